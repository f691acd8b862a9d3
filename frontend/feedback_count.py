"""The sidebar's count of stored corrections, from GET /feedback/stats.

Asked when the page opens, after each correction sent or undone here (the count changes at once),
on "Check again", and when older than TTL_S. Not after every Predict, which changes no count: each
request more would slow the rerun a stroke makes in live mode.
"""

from __future__ import annotations

import streamlit as st

from frontend import client as api
from frontend import session_cache

TTL_S = 10.0
_CACHE = "feedback_stats"
_CHANGES = "feedback_changes"


def changed() -> None:
    """A correction was sent or undone (or tried): the next run asks for the count again."""
    st.session_state[_CHANGES] = _changes() + 1


def _changes() -> int:
    return int(st.session_state.get(_CHANGES, 0))


def stats(config: api.ApiConfig, force: bool = False) -> api.FeedbackStats | api.ApiError:
    return session_cache.ask(
        _CACHE, config, api.feedback_stats, version=_changes(), ttl_s=TTL_S, force=force
    )


def show(config: api.ApiConfig, force: bool = False) -> None:
    """One line in the sidebar. An unreachable service is already said above it: no second alarm."""
    found = stats(config, force)
    if isinstance(found, api.ApiError):
        if not found.unreachable:
            st.caption(f"Corrections: {found.message}")
        return
    st.markdown(f"**Corrections collected** {found.total:,}")
