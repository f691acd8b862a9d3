"""The sidebar's count of stored corrections, from GET /feedback/stats.

Asked like the service's health (status.py): when the page opens, after any request the page
sends (a correction sent or undone changes the count at once), and when older than TTL_S.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from frontend import attempts
from frontend import client as api

TTL_S = 10.0
_CACHE = "feedback_stats"


@dataclass(frozen=True)
class _Checked:
    config: api.ApiConfig
    at: float
    after_requests: int
    stats: api.FeedbackStats | api.ApiError


def stats(config: api.ApiConfig, force: bool = False) -> api.FeedbackStats | api.ApiError:
    cached = st.session_state.get(_CACHE)
    if (
        not force
        and isinstance(cached, _Checked)
        and cached.config == config
        and cached.after_requests == attempts.requests_made()
        and time.monotonic() - cached.at < TTL_S
    ):
        return cached.stats
    try:
        found: api.FeedbackStats | api.ApiError = api.feedback_stats(config)
    except api.ApiError as error:
        found = error
    st.session_state[_CACHE] = _Checked(config, time.monotonic(), attempts.requests_made(), found)
    return found


def show(config: api.ApiConfig, force: bool = False) -> None:
    """One line in the sidebar. An unreachable service is already said above it: no second alarm."""
    found = stats(config, force)
    if isinstance(found, api.ApiError):
        if not found.unreachable:
            st.caption(f"Corrections: {found.message}")
        return
    st.markdown(f"**Corrections collected** {found.total:,}")
