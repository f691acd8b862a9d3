"""The answer card: what the service read, how sure it is, why; or why there is no answer.

Every view shows its outcome through `show_attempt`, so an answer looks the same wherever the
image came from. The card is built from small parts (`_headline`, `_details`) so that more can
be added to it (a verdict, alternatives, feedback buttons) without touching the views.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from frontend import chart, imaging
from frontend import client as api
from frontend.attempts import Attempt, sentence

UNCERTAIN_BELOW = 0.60
INPUT_SCALE = 6  # 28 px -> 168 px, whole pixels so the model's input stays crisp


def show_attempt(
    attempt: Attempt,
    *,
    view: str,
    stale: bool = False,
    retry: Callable[[], object] | None = None,
) -> None:
    """The prediction, or the error; "Try again" (calling `retry`) only where a retry can help.

    `view` names the view showing it, which keeps its widgets' keys apart from another view's.
    """
    if attempt.error is not None:
        show_error(attempt.error, view=view, label=attempt.label, retry=retry)
    elif attempt.prediction is not None:
        show_prediction(attempt.prediction, view=view, stale=stale)


def show_error(
    error: api.ApiError,
    *,
    view: str,
    label: str | None = None,
    retry: Callable[[], object] | None = None,
) -> None:
    """The service's own words (or why it could not be asked), and "Try again" for a timeout, an
    unreachable or busy service or a server error; never for a refusal of the input itself."""
    message = f"**{label}**: {error.message}" if label else sentence(error.message)
    st.error(message, icon=":material/error:")
    if retry is not None and error.retryable:
        # A callback runs before the rerun, so the retried outcome is what that rerun shows.
        st.button("Try again", key=f"retry_{view}", icon=":material/refresh:", on_click=retry)


def show_prediction(prediction: api.Prediction, *, view: str, stale: bool = False) -> None:
    _headline(prediction)
    if stale:
        st.info("The drawing changed since; press **Predict** to read it again.")
    _details(prediction, view=view)


def _headline(prediction: api.Prediction) -> None:
    """The digit, large, and how confident the service is; a doubt spelled out."""
    uncertain = prediction.confidence < UNCERTAIN_BELOW
    css_class = "predicted-digit uncertain" if uncertain else "predicted-digit"
    st.markdown(
        f'<div class="digit-card"><span class="label">I read</span>'
        f'<span class="{css_class}" data-digit="{prediction.digit}">{prediction.digit}</span>'
        "</div>",
        unsafe_allow_html=True,
    )
    st.progress(prediction.confidence, text=f"Confidence {prediction.confidence:.1%}")
    if uncertain:
        (first, p_first), (second, p_second) = prediction.top(2)
        st.warning(
            f"Uncertain: it could be {first} ({p_first:.0%}) or {second} ({p_second:.0%}). "
            "Try drawing it larger and centred.",
            icon=":material/help:",
        )


def _details(prediction: api.Prediction, *, view: str) -> None:
    """All ten probabilities, the 28×28 image the model saw, and who answered how fast.

    The chart and the image share a row that wraps: side by side where there is room, the image
    below the chart on a phone.
    """
    with st.container(key=f"chart_row_{view}", horizontal=True, vertical_alignment="bottom"):
        st.altair_chart(chart.probability_chart(prediction), width="stretch")
        if prediction.input_png:
            st.image(
                imaging.enlarge(prediction.input_png, INPUT_SCALE),
                caption="What the model saw (28×28)",
                width="content",
            )
    st.caption(
        f"{prediction.model} on {prediction.device}, {prediction.latency_ms:.1f} ms in the service"
    )
