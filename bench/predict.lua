-- wrk script: POST the PNG files named after `--` to /predict in turn, and print a JSON summary.
local bodies = {}
local counter = 0

function init(args)
  for i, path in ipairs(args) do
    local file = assert(io.open(path, "rb"))
    bodies[i] = file:read("*all")
    file:close()
  end
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", wrk.path, {["Content-Type"] = "image/png"}, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "status_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.timeout,
    errors.status, latency:percentile(50), latency:percentile(99), latency.max))
end
