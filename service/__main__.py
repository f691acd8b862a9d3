"""`python -m service [--host H] [--port P] [--workers N]`: run the API under uvicorn.

Flags override the HOST, PORT and WORKERS environment variables (see service/settings.py). This is
how the service is meant to run: it adds the connection limits of service/api/transport.py (head
size, header and body deadlines) to uvicorn's httptools protocol, and trusts forwarded headers only
from FORWARDED_ALLOW_IPS. `uvicorn service.app:app` serves the same app without those.
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

import uvicorn

from service.api.transport import GuardedHttpToolsProtocol
from service.settings import get_settings


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--workers", type=int, default=settings.workers)
    args = parser.parse_args()
    # uvicorn shuts down gracefully on SIGTERM (in-flight requests finish), then re-raises the
    # signal with the handler it found; with the default one the process would die "killed by
    # SIGTERM" (143) after an orderly shutdown. This handler makes that re-raise an exit 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    trusted_proxies = settings.forwarded_allow_ips.strip()
    uvicorn.run(
        "service.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        access_log=False,  # the app logs one JSON line per request itself
        loop="uvloop",
        http=GuardedHttpToolsProtocol,
        ws="none",  # no route speaks WebSocket: refuse upgrades rather than parse them
        # uvicorn would trust X-Forwarded-For from loopback by default, so that any local client
        # could pick its own address (and dodge the rate limit). Only the proxies named are.
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or None,
        timeout_graceful_shutdown=30,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


if __name__ == "__main__":
    main()
