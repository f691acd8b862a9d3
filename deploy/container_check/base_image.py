"""The Python base image, made here: no registry is reachable, so `python:3.11-slim` cannot be pulled.

debootstrap installs a minimal Debian bookworm with its Python 3.11 from the Debian mirror apt
already uses, and `podman import` turns that folder into a local image. It stands in for the
official image through the Dockerfiles' PYTHON_IMAGE build argument; what differs: Debian's
`/usr/bin/python3` (3.11.2, with `python` from python-is-python3) instead of a source-built
`/usr/local/bin/python`. Made once (about a minute); later runs find it in the store.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from deploy.container_check.buildah import CheckFailed, image_exists, image_id, run

SUITE = "bookworm"
# What python:3.11-slim carries beyond Debian's essentials: Python with venv (the Dockerfiles
# make /opt/venv), CA certificates, /etc/services and friends (netbase), time zones.
PACKAGES = ["python3", "python3-venv", "python-is-python3", "ca-certificates", "netbase", "tzdata"]
# Left out as the slim images leave them out: package lists and caches, documentation, locales.
TRIM = ["var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"]
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def apt_mirror(sources: Path = Path("/etc/apt/sources.list.d/debian.sources")) -> str:
    """The Debian archive apt uses here (deb822 `URIs:`), else Debian's own redirector."""
    if sources.is_file():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    return DEFAULT_MIRROR


def ensure(reference: str, log_path: Path, timeout: float = 900) -> str:
    """The base image's id, made first when the store lacks it."""
    if not image_exists(reference):
        with tempfile.TemporaryDirectory(prefix="container-check-base-") as tmp:
            root = Path(tmp) / "root"
            command = [
                "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                SUITE, str(root), apt_mirror(),
            ]  # fmt: skip
            with log_path.open("wb") as log:
                try:
                    result = subprocess.run(
                        command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
                    )
                except subprocess.TimeoutExpired:
                    raise CheckFailed(f"debootstrap did not finish in {timeout:.0f} s") from None
            if result.returncode != 0:
                raise CheckFailed(f"debootstrap failed; its output is in {log_path}")
            for folder in TRIM:
                shutil.rmtree(root / folder, ignore_errors=True)
                (root / folder).mkdir(parents=True)
            tarball = Path(tmp) / "root.tar"
            run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."], timeout)
            run(
                [
                    "podman", "import",
                    "--change", "ENV LANG=C.UTF-8",
                    "--change", 'CMD ["python3"]',
                    str(tarball), reference,
                ],
                timeout,
            )  # fmt: skip
    return image_id(reference)
