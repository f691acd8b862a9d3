"""Each worker process follows the served-version file (MODEL_DIR/current) that a reload writes.

A reload reaches one worker over HTTP; the others learn of it here: a thread checks the file's
identity (inode, size, modification time) every MODEL_POLL_INTERVAL seconds and reports the version
it names when it changed. Polling a stat, not inotify, because it works on every volume type
(network and overlay filesystems included) and costs one system call a second.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from training.versions import CURRENT_FILE, read_current

logger = logging.getLogger(__name__)
Signature = tuple[int, int, int] | None


def signature(path: Path) -> Signature:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_ino, status.st_size, status.st_mtime_ns)


class CurrentVersionWatcher:
    def __init__(
        self,
        model_dir: Path,
        interval: float,
        on_change: Callable[[int], None],
        seen: Signature,
    ) -> None:
        """`seen`: the file's signature when the caller last read it (changes after it count)."""
        self.path = model_dir / CURRENT_FILE
        self.model_dir = model_dir
        self.interval = interval
        self.on_change = on_change
        self._seen = seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="model-version", daemon=True)

    def start(self) -> CurrentVersionWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            now = signature(self.path)
            if now == self._seen:
                continue
            self._seen = now
            version = read_current(self.model_dir)
            if version is None:
                continue
            try:
                self.on_change(version)
            except Exception as error:  # keep watching: the next reload may name a good version
                logger.error("could not follow %s to version %s: %s", self.path, version, error)
