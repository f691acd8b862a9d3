"""`make container-check`: build both images from the repository's Dockerfiles and run them, here.

1. the base image (Debian bookworm + Python 3.11, debootstrap'ed once) stands in for
   python:3.11-slim through the PYTHON_IMAGE build argument;
2. `buildah bud` builds Dockerfile.api and Dockerfile.ui, with this machine's pip configuration
   and package folders mounted and torch from pip's own index (pip_access.py);
3. each image's ENTRYPOINT + CMD runs with its USER, WORKDIR and ENV (only the port moves to a
   free one); from the host: /health, the README's examples and the HEALTHCHECK against the API;
   /_stcore/health, the HEALTHCHECK and the browser test against the UI, whose API_URL is the
   API container; then SIGTERM must stop each cleanly, and nothing may have been written outside
   /tmp and declared volumes (the images run with read-only root filesystems elsewhere);
4. a report: image sizes, build times, the API's memory, the store's size.

Needs root, buildah, podman, debootstrap (only when the base image is missing) and Chromium.
Containers are removed whatever happens; old images of this check are removed before building;
cached layers are reused, and an image whose inputs are unchanged is not rebuilt at all (images.py).
Logs and report.json go to test-artifacts/container-check/.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deploy.container_check import base_image, buildah, images, pip_access, probes

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "container-check"
BASE = "localhost/mnist-digits-base:bookworm-python3.11"
STORE_LIMIT = 20 * 10**9
LOCK = Path("/run/lock/mnist-digits-container-check.lock")
START = time.monotonic()


def say(message: str) -> None:
    minutes, seconds = divmod(int(time.monotonic() - START), 60)
    print(f"[container-check {minutes:2d}:{seconds:02d}] {message}", flush=True)


def gigabytes(size: int) -> str:
    return f"{size / 1e9:.2f} GB"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def exclusive(timeout: float = 45 * 60) -> Iterator[None]:
    """One check at a time on a machine: they share the image store and its tags."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            if time.monotonic() > deadline:
                raise buildah.CheckFailed(f"another check held {LOCK} for {timeout:.0f} s")
            say(f"waiting for another check to finish (it holds {LOCK})")
            time.sleep(15)
        yield


def preflight() -> None:
    if os.geteuid() != 0:
        raise buildah.CheckFailed("run as root: buildah's chroot isolation needs it here")
    missing = [tool for tool in ("buildah", "podman") if not shutil.which(tool)]
    if missing:
        raise buildah.CheckFailed(
            f"{' and '.join(missing)} missing: apt-get install -y buildah podman debootstrap"
        )
    leftovers = [n for n in buildah.container_names() if n.startswith(images.CONTAINER_PREFIX)]
    if leftovers:
        say(f"removing containers an interrupted run left: {', '.join(leftovers)}")
        buildah.remove_containers(leftovers)


def bound_store(report: dict[str, Any]) -> None:
    """Before building: a store already over the limit loses this check's images first."""
    size = buildah.disk_usage(buildah.store_root())
    if size > STORE_LIMIT:
        ours = [n for n in buildah.image_names() if n.startswith(images.REPOSITORY_PREFIX)]
        say(f"the store holds {gigabytes(size)}: removing this check's images to start afresh")
        buildah.remove_images(ours)
        buildah.prune_dangling_images()
        report["store_reset_from_bytes"] = size


def build_images(report: dict[str, Any]) -> dict[str, str]:
    if not buildah.image_exists(BASE) and not shutil.which("debootstrap"):
        raise buildah.CheckFailed("debootstrap missing (it makes the base image): apt-get install")
    say(f"base image {BASE}")
    base_id = base_image.ensure(BASE, ARTIFACTS / "debootstrap.log")
    access = pip_access.this_machine()
    pip_conf = ARTIFACTS / "pip.conf"
    pip_conf.write_text(access.config_text)
    local = ", ".join(map(str, access.paths))
    say(f"pip inside the builds: index {access.index_url}, local packages {local}")
    tags = {}
    for spec in (images.API, images.UI):
        # torch as this machine's pip gets it: the Dockerfile's default (the CPU index) is not
        # reachable here. Only the API's Dockerfile declares the argument.
        args = {"TORCH_INDEX_URL": access.index_url} if spec is images.API else {}
        fingerprint = spec.fingerprint(base_id, args, access.config_text)
        started = time.monotonic()
        say(f"building {spec.dockerfile}")
        volumes = access.volumes(pip_conf)
        tags[spec.name] = images.build(spec, BASE, args, volumes, fingerprint, ARTIFACTS, say)
        seconds = time.monotonic() - started
        size = buildah.image_size(tags[spec.name])
        say(f"{tags[spec.name]}: {gigabytes(size)}, ready in {seconds:.0f} s")
        report["images"][spec.name] = {"tag": tags[spec.name], "bytes": size, "seconds": seconds}
    buildah.prune_dangling_images()
    return tags


def check_api(api: images.Started, report: dict[str, Any], workdir: Path) -> None:
    health = probes.wait_for(api.health_url, api.running, timeout=180).json()
    if not (health.get("status") == "ok" and health.get("model_loaded")):
        raise buildah.CheckFailed(f"/health answered {health}")
    rss = api.running.resident_bytes()
    report["api"] = {"health": health, "rss_after_start_bytes": rss}
    say(f"API: /health 200 {json.dumps(health)[:100]}...; resident memory {rss / 1e6:.0f} MB")
    say(f"API: HEALTHCHECK `{api.healthcheck()}` passed")
    for example in probes.run_readme_examples(api.port, workdir):
        say(f"API: README example answered as shown: {example}")
    report["api"]["rss_after_examples_bytes"] = api.running.resident_bytes()
    say(f"API: {probes.store_and_undo_a_correction(api.url, workdir / 'digit.png')}")


def check_ui(ui: images.Started, api: images.Started) -> None:
    body = probes.wait_for(ui.health_url, ui.running, timeout=120).text
    if body != "ok":
        raise buildah.CheckFailed(f"/_stcore/health answered {body!r}")
    say("UI: /_stcore/health ok")
    say(f"UI: HEALTHCHECK `{ui.healthcheck()}` passed")
    tested = probes.run_browser_test(ui.url, api.url, ARTIFACTS)
    say(f"UI: {tested} (drawn in Chromium, read by the API)")


def stop_cleanly(started: images.Started, grace: float) -> None:
    """SIGTERM stops the command with status 0, and it wrote nothing a read-only root forbids."""
    status = started.running.stop(grace)
    if status != 0:
        raise buildah.CheckFailed(
            f"{started.container}: after SIGTERM the command "
            + (f"exited {status}" if status is not None else f"was still running after {grace} s")
            + f"; its log:\n{buildah.tail(started.running.log())}"
        )
    writes = started.writes_outside_tmp_and_volumes()
    if writes:
        raise buildah.CheckFailed(
            f"{started.container} wrote outside /tmp and its volumes, which fails on a read-only "
            f"root filesystem (compose's read_only, Kubernetes' readOnlyRootFilesystem): {writes}"
        )


def check(report: dict[str, Any]) -> None:
    preflight()
    bound_store(report)
    tags = build_images(report)
    api_port, ui_port = free_port(), free_port()
    with (
        tempfile.TemporaryDirectory(prefix="container-check-") as workdir,
        images.start(images.API, tags["api"], api_port, {}, ARTIFACTS) as api,
    ):
        say(f"API: started {api.container} on {api.url}")
        check_api(api, report, Path(workdir))
        ui_env = {"API_URL": api.url}  # the API container (compose: http://api:8000)
        with images.start(images.UI, tags["ui"], ui_port, ui_env, ARTIFACTS) as ui:
            say(f"UI: started {ui.container} on {ui.url}, API_URL={api.url}")
            check_ui(ui, api)
            stop_cleanly(ui, grace=30)
            say("UI: stopped cleanly by SIGTERM; wrote nothing outside /tmp")
        stop_cleanly(api, grace=45)
        say("API: stopped cleanly by SIGTERM; wrote nothing outside /tmp")
    store = buildah.disk_usage(buildah.store_root())
    report["store_bytes"] = store
    if store > STORE_LIMIT:
        raise buildah.CheckFailed(f"the image store holds {gigabytes(store)}, over 20 GB")


def main() -> int:
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so the containers are removed either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    report: dict[str, Any] = {"images": {}, "passed": False}
    try:
        with exclusive():
            check(report)
        report["passed"] = True
    except buildah.CheckFailed as failure:
        print(f"\ncontainer-check FAILED: {failure}", file=sys.stderr, flush=True)
    except (KeyboardInterrupt, SystemExit):
        say("interrupted; containers removed")
        raise
    finally:
        report["seconds"] = time.monotonic() - START
        (ARTIFACTS / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    for name, image in report["images"].items():
        say(f"{name} image {image['tag']}: {gigabytes(image['bytes'])}")
    if "api" in report:
        rss = report["api"]["rss_after_start_bytes"]
        say(f"API resident memory after start: {rss / 1e6:.0f} MB")
    if "store_bytes" in report:
        say(f"image store: {gigabytes(report['store_bytes'])} (limit {gigabytes(STORE_LIMIT)})")
    say(("passed" if report["passed"] else "FAILED") + f"; details in {ARTIFACTS}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
