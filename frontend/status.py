"""The service's status in the sidebar: is it there, can it predict, with which model, and how
many corrections it has collected (feedback_count.py).

GET /health is asked when the page opens, after every request the page sends (a failed Predict
shows the service as down at once, the next successful one as back), on "Check again", and when
the last answer is older than HEALTH_TTL_S; strokes alone, which rerun the page, do not ask it.
The sidebar is drawn last in the script, so it reports what this run's request found out.
"""

from __future__ import annotations

import streamlit as st

from frontend import attempts, feedback_count, session_cache
from frontend import client as api

HEALTH_TTL_S = 10.0
_CACHE = "health"


def health(config: api.ApiConfig, force: bool = False) -> api.Health | api.ApiError:
    """/health, or the error that kept it from answering; reused until something may have changed."""
    return session_cache.ask(
        _CACHE,
        config,
        api.get_health,
        version=attempts.requests_made(),
        ttl_s=HEALTH_TTL_S,
        force=force,
    )


def sidebar(config: api.ApiConfig) -> None:
    with st.sidebar:
        st.header("Prediction service")
        recheck = st.button("Check again", key="recheck", icon=":material/refresh:")
        status = health(config, force=recheck)
        if isinstance(status, api.ApiError):
            st.error(attempts.sentence(status.message), icon=":material/cloud_off:")
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
        feedback_count.show(config, force=recheck)
        st.caption("API URL")
        st.code(config.url, language=None)
        if config.api_key:
            st.caption("Sending the API key from API_KEY.")
