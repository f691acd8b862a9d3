"""What a build needs to install packages the way this machine's pip does.

No registry or torch index is reachable from these machines, but pip is: its configuration (`pip
config list`) names PyPI plus local package folders (`find-links`, `file://` indexes), a
constraints file and a CA bundle. A build gets the same reach by mounting one `pip.conf` holding
that configuration, and every local file and folder it names, at the same paths (`buildah bud
-v`), and by installing torch from pip's own index instead of the Dockerfile's default CPU index
(`TORCH_INDEX_URL`). Nothing of this ends up in an image: `-v` mounts exist only while a RUN step
runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

PYPI = "https://pypi.org/simple"
# Where pip inside the build looks for a site-wide configuration file.
IMAGE_PIP_CONF = "/etc/pip.conf"


@dataclass(frozen=True)
class PipAccess:
    config_text: str  # one [global] section: the effective configuration of this machine's pip
    index_url: str  # the index pip installs from (torch comes from here, as on this machine)
    paths: tuple[Path, ...]  # local files and folders the configuration names, to mount read-only

    def volumes(self, config_file: Path) -> list[str]:
        """`buildah bud -v` arguments: the configuration file, then each path at its own place."""
        mounts = [f"{config_file}:{IMAGE_PIP_CONF}:ro"]
        return mounts + [f"{path}:{path}:ro" for path in self.paths]


def parse_config_list(output: str) -> dict[str, str]:
    """`pip config list` lines (`section.key='value'`) → one flat mapping, as pip applies it:
    variables (`:env:`) over files, the `global` section under any command's own section."""
    sections: dict[str, dict[str, str]] = {}
    for line in output.splitlines():
        name, equals, value = line.partition("=")
        if not equals:
            continue
        section, _, key = name.rpartition(".")
        sections.setdefault(section, {})[key] = ast.literal_eval(value)
    merged = {**sections.get("global", {}), **sections.get("install", {})}
    return {**merged, **sections.get(":env:", {})}


def local_paths(settings: dict[str, str]) -> tuple[Path, ...]:
    """Every existing local file or folder a setting names. A `file://…/simple` index links its
    packages relative to itself (`../../files/…`), so the folder above `simple` is mounted whole."""
    found: set[Path] = set()
    for value in settings.values():
        for word in value.split():
            if word.startswith("file:"):
                path = Path(unquote(urlparse(word).path))
                if path.name == "simple":
                    path = path.parent
            elif word.startswith("/"):
                path = Path(word)
            else:
                continue
            if path.exists():
                found.add(path)
    # A folder's mount brings everything under it, so paths inside another are not mounted again.
    return tuple(sorted(p for p in found if not any(q in p.parents for q in found)))


def from_settings(settings: dict[str, str]) -> PipAccess:
    index_url = settings.get("index-url", PYPI)
    lines = ["[global]", *(f"{key} = {value}" for key, value in sorted(settings.items()))]
    return PipAccess("\n".join(lines) + "\n", index_url, local_paths(settings))


def this_machine() -> PipAccess:
    """The configuration of the pip that runs this check (the project's virtual environment)."""
    output = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return from_settings(parse_config_list(output))
