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
import shlex
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.container_check import buildah

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY_PREFIX = "localhost/mnist-digits-"
CONTAINER_PREFIX = "mnist-digits-check-"
BYTECODE = {".pyc", ".pyo", ".pyd"}  # left out by .dockerignore
BUILD_TIMEOUT = 40 * 60  # a first API build takes 7-12 minutes on a busy 2-core machine


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


def copied_files(spec: ImageSpec) -> list[Path]:
    """Every file the Dockerfile's COPY instructions can take from the build context: all files
    under each source, less the bytecode .dockerignore leaves out (more is safe: it can only
    cause a rebuild that was not needed)."""
    files: list[Path] = []
    for line in spec.dockerfile_text().replace("\\\n", " ").splitlines():
        keyword, _, rest = line.strip().partition(" ")
        if keyword.upper() != "COPY" or "--from=" in rest:
            continue
        for source in [word for word in shlex.split(rest) if not word.startswith("--")][:-1]:
            path = ROOT / source
            found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            files += [f for f in found if "__pycache__" not in f.parts and f.suffix not in BYTECODE]
    return files


def inputs_digest(spec: ImageSpec, builder_id: str) -> str:
    """What the runtime stage is made of: the builder's image, the Dockerfile, .dockerignore and
    the files it copies. Equal digests, equal image: the build can be skipped."""
    digest = hashlib.sha256(builder_id.encode() + b"\0")
    for path in [ROOT / spec.dockerfile, ROOT / ".dockerignore", *copied_files(spec)]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def stale_tags(spec: ImageSpec, names: list[str], keep: set[str]) -> list[str]:
    """This image's check tags (its own and its builder's), other than those to keep."""
    repositories = (spec.repository, f"{spec.repository}-builder")
    return [
        name
        for name in names
        if name.rpartition(":")[0] in repositories and ":check-" in name and name not in keep
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
    """Build the image from the repository's Dockerfile, unless the image its inputs make is
    already there; its tag.

    The builder stage is built (or found in the cache) first, under its own tag. The image itself
    is tagged twice: check-<fingerprint>, and check-<fingerprint>-<inputs digest>, whose presence
    says that nothing it is made of has changed. buildah's own cache would find every layer too,
    but only after hashing the API's 5.6 GB virtual environment to match the COPY --from=builder
    layer, about a minute and a half here."""
    tag = f"{spec.repository}:check-{fingerprint}"
    builder = f"{spec.repository}-builder:check-{fingerprint}"
    names = buildah.image_names()
    this_fingerprint = {name for name in names if name.startswith(f"{tag}-")}
    buildah.remove_images(stale_tags(spec, names, {tag, builder, *this_fingerprint}))
    # --force-rm: a failed build otherwise leaves its working container behind, holding every layer
    # it made (two failed API builds left 24 GB), and the next check fails on the store's size.
    arguments = [
        "--layers", "--force-rm", "--format", "docker", "--isolation", "chroot",
        "--network", "host", "--pull=never", "-f", spec.dockerfile,
        "--build-arg", f"PYTHON_IMAGE={base}",
    ]  # fmt: skip
    for key, value in build_args.items():
        arguments += ["--build-arg", f"{key}={value}"]
    for volume in volumes:
        arguments += ["-v", volume]
    builder_id = buildah.image_id(base)
    if " AS builder" in spec.dockerfile_text():
        log = logs / f"build-{spec.name}-builder.log"
        buildah.build(
            [*arguments, "--target", "builder", "-t", builder, str(ROOT)], log, BUILD_TIMEOUT, say
        )
        builder_id = buildah.image_id(builder)
    inputs_tag = f"{tag}-{inputs_digest(spec, builder_id)}"
    built = buildah.image_exists(inputs_tag) and buildah.image_exists(tag)
    if built and buildah.image_id(inputs_tag) == buildah.image_id(tag):
        say(f"{spec.dockerfile}: nothing it is made of changed since {inputs_tag} was built")
        return tag
    log = logs / f"build-{spec.name}.log"
    buildah.build([*arguments, "-t", tag, "-t", inputs_tag, str(ROOT)], log, BUILD_TIMEOUT, say)
    buildah.remove_images(stale_tags(spec, buildah.image_names(), {tag, builder, inputs_tag}))
    return tag


@dataclass
class Started:
    """An image's command running in its own container, on a port of the host."""

    spec: ImageSpec
    container: str
    port: int
    env: dict[str, str]  # what the check set on top of the image's ENV
    config: dict[str, Any]
    running: buildah.Running

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}{self.spec.health_path}"

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
def start(
    spec: ImageSpec, tag: str, port: int, env: dict[str, str], logs: Path
) -> Iterator[Started]:
    """A new container of tag running the image's ENTRYPOINT + CMD with its USER, WORKDIR and
    ENV, plus env and the port; /tmp in memory as compose mounts it, and a fresh folder on each
    VOLUME. The container is removed on leaving the block, whatever happened inside it."""
    env = {spec.port_variable: str(port), **env}
    name = spec.name
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
                # rw: buildah mounts a bind read-only unless told (Docker's volumes are writable).
                mounts.append(f"type=bind,source={source},destination={volume},rw")
            command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
            with buildah.start(container, command, env, mounts, logs / f"{name}.log") as running:
                yield Started(spec, container, port, env, config, running)
    finally:
        buildah.remove_containers([container])
