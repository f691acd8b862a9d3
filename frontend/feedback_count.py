"""The sidebar's count of stored corrections, from GET /feedback/stats.

Asked when the page opens, after each correction sent or undone here (the count changes at once),
on "Check again", and when older than TTL_S. Not after every Predict, which changes no count: each
request more would slow the rerun a stroke makes in live mode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from frontend import client as api

TTL_S = 10.0
_CACHE = "feedback_stats"
_CHANGES = "feedback_changes"


def changed() -> None:
    """A correction was sent or undone (or tried): the next run asks for the count again."""
    st.session_state[_CHANGES] = _changes() + 1


def _changes() -> int:
    return int(st.session_state.get(_CHANGES, 0))


@dataclass(frozen=True)
class _Checked:
    config: api.ApiConfig
    at: float
    after_changes: int
    stats: api.FeedbackStats | api.ApiError


def stats(config: api.ApiConfig, force: bool = False) -> api.FeedbackStats | api.ApiError:
    cached = st.session_state.get(_CACHE)
    if (
        not force
        and isinstance(cached, _Checked)
        and cached.config == config
        and cached.after_changes == _changes()
        and time.monotonic() - cached.at < TTL_S
    ):
        return cached.stats
    try:
        found: api.FeedbackStats | api.ApiError = api.feedback_stats(config)
    except api.ApiError as error:
        found = error
    st.session_state[_CACHE] = _Checked(config, time.monotonic(), _changes(), found)
    return found


def show(config: api.ApiConfig, force: bool = False) -> None:
    """One line in the sidebar. An unreachable service is already said above it: no second alarm."""
    found = stats(config, force)
    if isinstance(found, api.ApiError):
        if not found.unreachable:
            st.caption(f"Corrections: {found.message}")
        return
    st.markdown(f"**Corrections collected** {found.total:,}")
