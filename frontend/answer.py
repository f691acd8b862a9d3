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
INPUT_SCALE = 7  # 28 px -> 196 px, whole pixels so the model's input stays crisp


def show_attempt(
    attempt: Attempt,
    *,
    view: str,
    stale: bool = False,
    retry: Callable[[], object] | None = None,
) -> None:
    """The prediction, or the error with a "Try again" button when `retry` is given.

    `view` names the view showing it, which keeps its widgets' keys apart from another view's.
    """
    if attempt.error is not None:
        show_error(attempt.error, view=view, retry=retry)
    elif attempt.prediction is not None:
        show_prediction(attempt.prediction, stale=stale)


def show_error(
    error: api.ApiError, *, view: str, retry: Callable[[], object] | None = None
) -> None:
    st.error(sentence(error.message), icon=":material/error:")
    if retry is not None:
        # A callback runs before the rerun, so the retried outcome is what that rerun shows.
        st.button("Try again", key=f"retry_{view}", icon=":material/refresh:", on_click=retry)


def show_prediction(prediction: api.Prediction, *, stale: bool = False) -> None:
    _headline(prediction)
    if stale:
        st.info("The drawing changed since; press **Predict** to read it again.")
    _details(prediction)


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


def _details(prediction: api.Prediction) -> None:
    """All ten probabilities, the 28×28 image the model saw, and who answered how fast."""
    chart_column, input_column = st.columns([3, 2], vertical_alignment="bottom")
    chart_column.altair_chart(chart.probability_chart(prediction), width="stretch")
    if prediction.input_png:
        input_column.image(
            imaging.enlarge(prediction.input_png, INPUT_SCALE),
            caption="What the model saw (28×28)",
        )
    st.caption(
        f"{prediction.model} on {prediction.device}, {prediction.latency_ms:.1f} ms in the service"
    )
