"""Bring the feedback database's schema up to date with Alembic (`python -m service migrate`).

`python -m service` calls this once before uvicorn starts its workers, never once per worker. On
PostgreSQL an advisory lock makes replicas that start together migrate one after the other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from feedback.database import is_sqlite, make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number: the lock only has to mean the same thing to every replica.
_ADVISORY_LOCK = 0x6D6E6973_74666462  # "mnistfdb"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(url: str, timeout: float = 30.0, revision: str = "head") -> None:
    _run(url, timeout, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str, timeout: float = 30.0) -> None:
    _run(url, timeout, lambda config: command.downgrade(config, revision))


def _run(url: str, timeout: float, step: Callable[[Config], None]) -> None:
    engine = make_engine(url, timeout, pool_size=1)
    try:
        # The connection is handed to env.py (not the URL), so a password is never parsed by
        # Alembic's config file syntax, and the lock below covers the whole migration.
        with engine.begin() as connection:
            if not is_sqlite(url):
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK}
                )
            config = alembic_config()
            config.attributes["connection"] = connection
            step(config)
    finally:
        engine.dispose()
