"""The service's status in the sidebar: is it there, can it predict, with which model.

The answer of GET /health is kept in the session for a few seconds, since every stroke reruns the
page; "Check again" asks at once.
"""

from __future__ import annotations

import time

import streamlit as st

from frontend import client as api
from frontend.attempts import sentence

HEALTH_TTL_S = 10.0  # each stroke reruns the page; the sidebar need not ask /health every time
_CACHE = "health"


def health(config: api.ApiConfig, force: bool = False) -> api.Health | api.ApiError:
    """/health, or the error that kept it from answering, reused for a few seconds per session."""
    cached = st.session_state.get(_CACHE)
    if not force and cached and cached[0] == config and time.monotonic() - cached[1] < HEALTH_TTL_S:
        return cached[2]
    try:
        status: api.Health | api.ApiError = api.get_health(config)
    except api.ApiError as error:
        status = error
    st.session_state[_CACHE] = (config, time.monotonic(), status)
    return status


def sidebar(config: api.ApiConfig) -> None:
    with st.sidebar:
        st.header("Prediction service")
        recheck = st.button("Check again", key="recheck", icon=":material/refresh:")
        status = health(config, force=recheck)
        if isinstance(status, api.ApiError):
            st.error(sentence(status.message), icon=":material/cloud_off:")
        elif status.ok and status.model:
            st.success("Ready", icon=":material/check_circle:")
            accuracy = status.model.test_accuracy
            st.markdown(
                f"**Model** {status.model.name}  \n"
                f"**Test accuracy** {'n/a' if accuracy is None else f'{accuracy:.2%}'}  \n"
                f"**Device** {status.device}  \n"
                f"**Parameters** {status.model.parameters:,}"
            )
        else:
            st.warning(
                f"Reachable, but it cannot predict: {status.reason or 'model not loaded'}",
                icon=":material/hourglass_empty:",
            )
        st.caption("API URL")
        st.code(config.url, language=None)
        if config.api_key:
            st.caption("Sending the API key from API_KEY.")
