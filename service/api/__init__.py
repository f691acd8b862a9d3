"""Everything HTTP: the app factory, routes, middleware, the request readers, the wire contract and
the one error table. The only package that imports fastapi or starlette."""
