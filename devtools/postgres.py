"""A throwaway PostgreSQL server for tests: `initdb` + `pg_ctl` in a temporary folder, listening on
a free loopback port, removed afterwards. Debian's server binaries (`apt-get install postgresql`)
are found on PATH or in /usr/lib/postgresql/<version>/bin.

PostgreSQL refuses to run as root, so under root (CI) the server runs as an unprivileged user
(`postgres` when it exists, else `nobody`) that owns the temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devtools.servers import free_port

SUPERUSER = "postgres"


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL's server is not installed."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parents[1].name) if path.parents[1].name.isdigit() else 0,
    )
    return installed[-1].parent if installed else None


@dataclass
class PostgresServer:
    port: int
    folder: Path
    binaries: Path
    user: pwd.struct_passwd | None  # who runs the server (None: this process's user)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URL."""
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once (connections are cut), as a crash or an outage would."""
        self._run("pg_ctl", "stop", "-D", str(self.folder / "data"), "-m", "immediate", "-w")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.folder / "data"),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
        )

    def _psql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(sql.encode())

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        subprocess.run(
            command,
            check=True,
            capture_output=True,
            timeout=120,
            preexec_fn=_become(self.user) if self.user else None,
            cwd=self.folder,
        )


def _become(user: pwd.struct_passwd):  # type: ignore[no-untyped-def]
    def switch() -> None:
        os.setgid(user.pw_gid)
        os.setgroups([])
        os.setuid(user.pw_uid)

    return switch


def _unprivileged_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh cluster on a free loopback port, trust authentication for local connections only."""
    binaries = find_binaries()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL's server (initdb, pg_ctl) is not installed")
    folder = Path(tempfile.mkdtemp(prefix="mnist-pg-"))
    user = _unprivileged_user()
    if user:
        os.chown(folder, user.pw_uid, user.pw_gid)
    server = PostgresServer(free_port(), folder, binaries, user)
    try:
        server._run(
            "initdb",
            "-D",
            str(folder / "data"),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",  # a test cluster: its files need not survive a power cut
        )
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            server.stop()  # waits (-w) until the server has exited
        shutil.rmtree(folder, ignore_errors=True)
