"""An answer from the service kept in the Streamlit session, asked again only when it may be stale.

The sidebar shows /health and the count of corrections on every rerun, and a stroke reruns the
page: asking the service each time would add requests to every stroke in live mode. An answer is
reused while the configuration is the same, the caller's `version` (a count of the events that can
change it) has not moved, and it is younger than `ttl_s`. An ApiError is kept like an answer, so a
service that is down is not asked again on every rerun either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import streamlit as st

from frontend import client as api

Answer = TypeVar("Answer")


@dataclass(frozen=True)
class _Kept(Generic[Answer]):
    config: api.ApiConfig
    at: float
    version: int
    answer: Answer | api.ApiError


def ask(
    slot: str,
    config: api.ApiConfig,
    fetch: Callable[[api.ApiConfig], Answer],
    *,
    version: int,
    ttl_s: float,
    force: bool = False,
) -> Answer | api.ApiError:
    """`fetch(config)`'s answer (or the ApiError it raised), kept in session slot `slot`."""
    kept = st.session_state.get(slot)
    if (
        not force
        and isinstance(kept, _Kept)
        and kept.config == config
        and kept.version == version
        and time.monotonic() - kept.at < ttl_s
    ):
        return kept.answer
    try:
        answer: Answer | api.ApiError = fetch(config)
    except api.ApiError as error:
        answer = error
    st.session_state[slot] = _Kept(config, time.monotonic(), version, answer)
    return answer
