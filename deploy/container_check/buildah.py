"""buildah and podman, as the check uses them: every call has a time limit, and a failure says what
ran and what it printed.

Images are built with `buildah bud` and run with `buildah run --isolation chroot`: the image's own
command, user, working directory and environment, in its own root filesystem, on the host's
network. (`podman run` cannot start containers on these machines; podman serves for `import`,
`diff` and the image listing, which share buildah's store.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CheckFailed(Exception):
    """A failure the check reports in words, with no traceback."""


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(command: list[str], timeout: float, stdin: bytes | None = None) -> str:
    """Run a command to completion; its stdout, or CheckFailed with its output."""
    try:
        result = subprocess.run(
            command, input=stdin, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise CheckFailed(f"{command[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"`{shlex.join(command)}` did not finish in {timeout:.0f} s") from None
    out = result.stdout.decode(errors="replace")
    if result.returncode != 0:
        said = tail(result.stderr.decode(errors="replace") + out)
        raise CheckFailed(f"`{shlex.join(command)}` failed (exit {result.returncode}):\n{said}")
    return out


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL, to a process started with start_new_session=True and its children."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)


def build(
    arguments: list[str], log_path: Path, timeout: float, progress: Callable[[str], None]
) -> None:
    """`buildah bud ARGUMENTS`, its whole output in log_path; each step is passed to progress."""
    command = ["buildah", "bud", *arguments]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    shown = 0
    try:
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
            lines = log_path.read_text(errors="replace").splitlines()
            for line in lines[shown:]:
                if " STEP " in line or line.startswith("STEP "):
                    progress(line[:110])
            shown = len(lines)
        timed_out = process.poll() is None
    finally:
        stop_process_group(process)
    if process.returncode != 0:
        what = f"did not finish in {timeout:.0f} s" if timed_out else "failed"
        raise CheckFailed(
            f"`{shlex.join(command)}` {what}; its output is in {log_path}; the end of it:\n"
            + tail(log_path.read_text(errors="replace"))
        )


def image_exists(reference: str) -> bool:
    return subprocess.run(["podman", "image", "exists", reference], timeout=60).returncode == 0


def image_config(reference: str) -> dict[str, Any]:
    """The image's Docker configuration: Cmd, Entrypoint, Env, User, Healthcheck, Volumes, ..."""
    inspected = json.loads(run(["buildah", "inspect", "--type", "image", reference], 60))
    config: dict[str, Any] = inspected["Docker"]["config"]
    return config


def image_id(reference: str) -> str:
    return run(["podman", "image", "inspect", "--format", "{{.Id}}", reference], 60).strip()


def image_size(reference: str) -> int:
    """Bytes, as `podman images` counts them: all layers, uncompressed."""
    return int(run(["podman", "image", "inspect", "--format", "{{.Size}}", reference], 60))


def image_names() -> list[str]:
    images = json.loads(run(["podman", "images", "--format", "json"], 60) or "[]")
    return [name for image in images for name in image.get("Names") or []]


def remove_images(references: list[str]) -> None:
    """Untag and remove; untagged parent layers no other image uses go with them."""
    if references:
        run(["podman", "rmi", "--force", *references], 600)


def prune_dangling_images() -> None:
    """Untagged images nothing builds on: what earlier builds left once their tags moved on."""
    run(["podman", "image", "prune", "--force"], 600)


def store_root() -> Path:
    return Path(json.loads(run(["buildah", "info"], 60))["store"]["GraphRoot"])


def disk_usage(path: Path) -> int:
    """Bytes on disk under path (hard links once), as `du` counts them."""
    return int(run(["du", "-s", "--block-size=1", str(path)], 600).split()[0])


def container_names() -> list[str]:
    containers = json.loads(run(["buildah", "containers", "--json"], 60) or "[]") or []
    return [container["containername"] for container in containers]


def remove_containers(names: list[str]) -> None:
    if names:
        run(["buildah", "rm", *names], 120)


def outside(paths: list[str], allowed: list[str]) -> list[str]:
    """The paths that are not one of the allowed folders or inside one."""
    return sorted(
        path
        for path in paths
        if not any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed)
    )


def writes_outside(container: str, allowed: list[str]) -> list[str]:
    """Paths the container's processes added, changed or deleted outside the allowed folders:
    each would fail where the root filesystem is read-only (compose's read_only, Kubernetes'
    readOnlyRootFilesystem)."""
    changes = json.loads(run(["podman", "diff", "--format", "json", container], 120) or "{}")
    return outside(
        [path for kind in ("added", "changed", "deleted") for path in changes.get(kind) or []],
        allowed,
    )


@dataclass
class Running:
    """One image's command running in a buildah container."""

    container: str
    process: subprocess.Popen[bytes]  # `buildah run`
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def command_pid(self) -> int:
        """The image's command as a host process: the child of buildah's chroot helper."""
        children: dict[int, list[int]] = {}
        argv0: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
                argv0[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
        pending = [self.process.pid]
        while pending:
            pid = pending.pop()
            if argv0.get(pid, "").endswith("buildah-chroot-exec") and children.get(pid):
                return children[pid][0]
            pending += children.get(pid, [])
        raise CheckFailed(
            f"no process of the image's command under `buildah run` ({self.container})"
        )

    def resident_bytes(self) -> int:
        """Resident memory of the image's command and any processes it started."""
        total, pending = 0, [self.command_pid()]
        while pending:
            pid = pending.pop()
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending += [int(c) for c in (task / "children").read_text().split()]
        return total

    def stop(self, grace: float) -> int | None:
        """SIGTERM to the image's command, as `docker stop` sends it; its exit status, or None
        when it had to be killed after `grace` seconds."""
        if self.process.poll() is None:
            with contextlib.suppress(CheckFailed, ProcessLookupError):
                os.kill(self.command_pid(), signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                return self.process.wait(timeout=grace)
            stop_process_group(self.process, grace=5)
            return None
        return self.process.returncode


def run_options(env: dict[str, str], mounts: list[str]) -> list[str]:
    options = ["--isolation", "chroot", "--network", "host"]
    options += [f"--env={key}={value}" for key, value in env.items()]
    return options + [f"--mount={mount}" for mount in mounts]


@contextlib.contextmanager
def start(
    container: str, command: list[str], env: dict[str, str], mounts: list[str], log_path: Path
) -> Iterator[Running]:
    """Run command in container (env overriding the image's ENV); stopped on leaving the block."""
    argv = ["buildah", "run", *run_options(env, mounts), container, "--", *command]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    running = Running(container, process, log_path)
    try:
        yield running
    finally:
        running.stop(grace=10)


def exec_in(container: str, command: list[str], env: dict[str, str], timeout: float) -> str:
    """Run one more command in a container, beside what already runs there (`docker exec`)."""
    return run(["buildah", "run", *run_options(env, []), container, "--", *command], timeout)
