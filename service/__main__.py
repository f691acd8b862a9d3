"""`python -m service [--host H] [--port P] [--workers N]`: migrate the feedback database, then run
the API under uvicorn. `python -m service migrate`: only migrate.

Flags override the HOST, PORT and WORKERS environment variables (see service/settings.py). This is
how the service is meant to run: it adds the connection limits of service/api/transport.py (head
size, header and body deadlines) to uvicorn's httptools protocol, and trusts forwarded headers only
from FORWARDED_ALLOW_IPS. With WORKERS > 1, a supervisor listens and hands each connection to the
least-loaded worker (service/workers.py). `uvicorn service.app:app` serves the same app without any
of that, and without the migration: that runs here, once, before any worker starts; a database
that cannot be reached is logged and the API starts anyway (predictions need no database;
/feedback answers 503 until it is).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from feedback.database import describe
from feedback.migrate import upgrade
from service import workers
from service.logs import configure_logging
from service.settings import Settings, get_settings

logger = logging.getLogger("service")


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "migrate"],
        default="serve",
        help="serve (default): migrate, then run the API; migrate: only migrate the database",
    )
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--workers", type=int, default=settings.workers)
    args = parser.parse_args()
    configure_logging(settings.log_level)
    if args.command == "migrate":
        sys.exit(0 if migrate(settings) else 1)
    migrate(settings)  # once, here, before any worker process starts
    trusted_proxies = settings.forwarded_allow_ips.strip()
    config: dict[str, Any] = {
        "app": "service.app:app",
        "host": args.host,
        "port": args.port,
        "log_level": settings.log_level,
        "access_log": False,  # the app logs one JSON line per request itself
        "loop": "uvloop",
        # By name, so that the supervisor of several workers never imports the app (and torch).
        "http": "service.api.transport:GuardedHttpToolsProtocol",
        "ws": "none",  # no route speaks WebSocket: refuse upgrades rather than parse them
        # uvicorn would trust X-Forwarded-For from loopback by default, so that any local client
        # could pick its own address (and dodge the rate limit). Only the proxies named are.
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": trusted_proxies or None,
        "timeout_graceful_shutdown": 30,
    }
    if args.workers > 1:
        workers.serve(config, args.workers)
        return
    signal.signal(signal.SIGTERM, workers.exit_cleanly)
    uvicorn.run(**config)


def migrate(settings: Settings) -> bool:
    """Bring the feedback database up to date; False (and one log line) when it cannot be."""
    url = settings.feedback_database_url
    try:
        upgrade(url, timeout=max(settings.database_timeout, 30.0))
    except (SQLAlchemyError, OSError) as error:
        logger.error("feedback database %s not migrated: %s", describe(url), error)
        return False
    logger.info("feedback database %s is up to date", describe(url))
    return True


if __name__ == "__main__":
    main()
