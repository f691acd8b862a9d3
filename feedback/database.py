"""Engines for DATABASE_URL: SQLite (the embedded default) or PostgreSQL (postgresql+psycopg://).

Both wait at most `timeout` seconds for the database (a connection, a lock, a statement) and then
fail, so a request is answered 503 instead of hanging; SQLite's folder is created on first use.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def describe(url: str | URL) -> str:
    """The URL without its password, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, timeout: float, pool_size: int = 4) -> Engine:
    parsed = make_url(url)
    if is_sqlite(parsed):
        engine = create_engine(
            parsed,
            # One connection per process: SQLite has one writer at a time anyway, and waiting in
            # the pool's queue is fairer than every thread polling the file lock.
            pool_size=1,
            max_overflow=0,
            pool_timeout=timeout,
            connect_args={"timeout": timeout},  # how long to wait for another process's lock
        )
        _prepare_sqlite(engine, parsed)
        return engine
    seconds = max(1, math.ceil(timeout))
    milliseconds = int(timeout * 1000)
    return create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=timeout,
        pool_pre_ping=True,  # a connection the server dropped (restart, failover) is replaced
        connect_args={
            "connect_timeout": seconds,
            "options": f"-c lock_timeout={milliseconds} -c statement_timeout={milliseconds}",
        },
    )


def _prepare_sqlite(engine: Engine, url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).parent

        @event.listens_for(engine, "do_connect")
        def _create_folder(*_: Any) -> None:
            folder.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        # WAL lets readers (stats) run beside the writer; synchronous=FULL syncs every commit to
        # disk, so a correction answered 201 survives a crash of the process or of the machine.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()
