"""The two images: how each is built here, tagged, and started the way its Dockerfile says.

Tags carry a fingerprint of what the slow builder stage depends on (the Dockerfile's stages
before the runtime stage, pyproject.toml, the base image, build arguments, pip's configuration).
Images tagged with another fingerprint can never be reused, so they are removed *before* a build:
the store never holds an old and a new multi-GB dependency layer at once. The builder stage is
tagged too, or pruning untagged images would throw its cached layers away.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.container_check import buildah

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY_PREFIX = "localhost/mnist-digits-"
CONTAINER_PREFIX = "mnist-digits-check-"
BUILD_TIMEOUT = 40 * 60  # a first API build takes about 7 minutes on a 2-core machine


@dataclass(frozen=True)
class ImageSpec:
    name: str  # "api" or "ui"
    dockerfile: str
    port_variable: str  # the ENV variable that sets the port the image's command listens on
    health_path: str

    @property
    def repository(self) -> str:
        return f"{REPOSITORY_PREFIX}{self.name}"

    def dockerfile_text(self) -> str:
        return (ROOT / self.dockerfile).read_text()

    def builder_stages(self) -> str:
        """The Dockerfile up to its last FROM: the stages that install the dependencies."""
        text = self.dockerfile_text()
        last = text.rfind("\nFROM ")
        return text[:last] if last > 0 else ""

    def fingerprint(self, base_id: str, build_args: dict[str, str], pip_conf: str) -> str:
        digest = hashlib.sha256()
        pyproject = (ROOT / "pyproject.toml").read_text()
        for part in (self.builder_stages(), pyproject, base_id, json.dumps(build_args), pip_conf):
            digest.update(part.encode() + b"\0")
        return digest.hexdigest()[:12]


API = ImageSpec("api", "Dockerfile.api", "PORT", "/health")
UI = ImageSpec("ui", "Dockerfile.ui", "STREAMLIT_SERVER_PORT", "/_stcore/health")


@dataclass(frozen=True)
class Built:
    spec: ImageSpec
    tag: str
    seconds: float


def stale_tags(spec: ImageSpec, fingerprint: str, names: list[str]) -> list[str]:
    """This image's check tags (its own and its builder's) made from another fingerprint."""
    keep = f":check-{fingerprint}"
    repositories = (spec.repository, f"{spec.repository}-builder")
    return [
        name
        for name in names
        if name.rpartition(":")[0] in repositories and ":check-" in name and not name.endswith(keep)
    ]


def build(
    spec: ImageSpec,
    base: str,
    build_args: dict[str, str],
    volumes: list[str],
    fingerprint: str,
    logs: Path,
    say: Callable[[str], None],
) -> str:
    """Build the image from the repository's Dockerfile; its tag."""
    buildah.remove_images(stale_tags(spec, fingerprint, buildah.image_names()))
    arguments = [
        "--layers", "--format", "docker", "--isolation", "chroot", "--network", "host",
        "--pull=never", "-f", spec.dockerfile, "--build-arg", f"PYTHON_IMAGE={base}",
    ]  # fmt: skip
    for key, value in build_args.items():
        arguments += ["--build-arg", f"{key}={value}"]
    for volume in volumes:
        arguments += ["-v", volume]
    tag = f"{spec.repository}:check-{fingerprint}"
    if " AS builder" in spec.dockerfile_text():
        builder = f"{spec.repository}-builder:check-{fingerprint}"
        arguments_builder = [*arguments, "--target", "builder", "-t", builder, str(ROOT)]
        log = logs / f"build-{spec.name}-builder.log"
        buildah.build(arguments_builder, log, BUILD_TIMEOUT, say)
    buildah.build(
        [*arguments, "-t", tag, str(ROOT)], logs / f"build-{spec.name}.log", BUILD_TIMEOUT, say
    )
    return tag


@dataclass
class Started:
    """An image's command running in its own container, on a port of the host."""

    container: str
    port: int
    env: dict[str, str]  # what the check set on top of the image's ENV
    config: dict[str, Any]
    running: buildah.Running

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthcheck(self) -> str:
        """The image's HEALTHCHECK command, run inside the container as Docker runs it."""
        test = (self.config.get("Healthcheck") or {}).get("Test") or []
        if not test or test[0] not in {"CMD", "CMD-SHELL"}:
            raise buildah.CheckFailed(f"{self.container}: the image has no HEALTHCHECK ({test})")
        command = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
        timeout = (self.config["Healthcheck"].get("Timeout") or 30e9) / 1e9
        # buildah's own start-up adds about a second to the command's time
        buildah.exec_in(self.container, command, self.env, timeout + 20)
        return " ".join(command)

    def writes_outside_tmp_and_volumes(self) -> list[str]:
        allowed = ["/tmp", *(self.config.get("Volumes") or {})]
        return buildah.writes_outside(self.container, allowed)


def _owner(user: str) -> tuple[int, int] | None:
    uid, _, gid = user.partition(":")
    if uid.isdigit() and (gid or uid).isdigit():
        return int(uid), int(gid or uid)
    return None


@contextlib.contextmanager
def start(tag: str, port: int, env: dict[str, str], logs: Path, name: str) -> Iterator[Started]:
    """A new container of tag running the image's ENTRYPOINT + CMD with its USER, WORKDIR and
    ENV (plus env), /tmp in memory as compose mounts it, and a fresh folder on each VOLUME; the
    container is removed on leaving the block, whatever happened inside it."""
    config = buildah.image_config(tag)
    container = f"{CONTAINER_PREFIX}{name}-{port}"
    buildah.run(["buildah", "from", "--pull=never", "--name", container, tag], 120)
    try:
        with tempfile.TemporaryDirectory(prefix=f"{container}-") as volumes_root:
            mounts = ["type=tmpfs,destination=/tmp"]
            owner = _owner(config.get("User") or "0")
            for index, volume in enumerate(config.get("Volumes") or {}):
                source = Path(volumes_root) / str(index)
                source.mkdir()
                if owner:
                    os.chown(source, *owner)
                mounts.append(f"type=bind,source={source},destination={volume}")
            command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
            with buildah.start(container, command, env, mounts, logs / f"{name}.log") as running:
                yield Started(container, port, env, config, running)
    finally:
        buildah.remove_containers([container])
