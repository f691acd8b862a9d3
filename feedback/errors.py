"""Why the feedback store cannot take or give rows right now; service/api/errors.py says how to
answer (503 with Retry-After)."""

from __future__ import annotations


class FeedbackUnavailableError(RuntimeError):
    """The database is down, locked for too long, or not set up; `reason` says which, in words a
    client can read (the database's own message goes to the log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
