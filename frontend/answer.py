"""The answer card: what the service made of the image, how sure it is, why; or why there is none.

Every view shows its outcome through `show_attempt`, so an answer looks the same wherever the
image came from. The headline follows the service's verdict, and only a `digit` verdict gets the
large digit in the confident style:

- `digit`: "I read 7", the calibrated confidence, and what calibrated means;
- `unsure`: "I'm not sure — 4 or 9?", the candidates small and grey, with their probabilities;
- `not_a_digit`: "That doesn't look like a digit", the best guess only as a grey aside;
- `several_digits`: "That looks like several digits", with the service's hint.

While live mode waits for the pen to pause (live.py), the card is a neutral "Keep drawing…".
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from frontend import chart, imaging
from frontend import client as api
from frontend.attempts import Attempt, sentence

INPUT_SCALE = 6  # 28 px -> 168 px, whole pixels so the model's input stays crisp
CALIBRATION_NOTE = "Confidence is calibrated: of answers shown at 90%, about 9 in 10 are right."


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
    _HEADLINES[prediction.verdict](prediction)
    if stale:
        st.info("The drawing changed since; press **Predict** to read it again.")
    _details(prediction, view=view)


def _card(verdict: str, inner: str) -> None:
    st.markdown(
        f'<div class="verdict-card" data-verdict="{verdict}">{inner}</div>',
        unsafe_allow_html=True,
    )


def _digit(prediction: api.Prediction) -> None:
    """The one verdict the service stands by: the digit, large, and its calibrated confidence."""
    _card(
        "digit",
        '<span class="label">I read</span>'
        f'<span class="predicted-digit" data-digit="{prediction.digit}">{prediction.digit}</span>',
    )
    st.progress(prediction.confidence, text=f"Confidence {prediction.confidence:.1%}")
    st.caption(CALIBRATION_NOTE)


def _unsure(prediction: api.Prediction) -> None:
    """One digit, but which? The candidates side by side, none of them in the confident style."""
    candidates = [(prediction.digit, prediction.confidence)] + [
        (alternative.digit, alternative.probability) for alternative in prediction.alternatives
    ]
    names = [str(digit) for digit, _ in candidates]
    if len(names) == 1:
        question = f"maybe a {names[0]}?"
    else:
        question = f"{', '.join(names[:-1])} or {names[-1]}?"
    chips = "".join(
        f'<span class="candidate" data-candidate="{digit}"><span class="candidate-digit">'
        f'{digit}</span><span class="candidate-probability">{probability:.0%}</span></span>'
        for digit, probability in candidates
    )
    _card(
        "unsure",
        f'<p class="verdict-headline">I\'m not sure — {question}</p>'
        f'<div class="candidates">{chips}</div>',
    )
    st.caption(f"Try writing it larger and more clearly. {CALIBRATION_NOTE}")


def _not_a_digit(prediction: api.Prediction) -> None:
    _card("not_a_digit", '<p class="verdict-headline">That doesn\'t look like a digit</p>')
    st.markdown("Letters, shapes and scribbles are not read: try one digit, 0–9, written large.")
    st.caption(
        f"If it is one after all, the closest digit is {prediction.digit} "
        f"({prediction.confidence:.0%})."
    )


def _several_digits(prediction: api.Prediction) -> None:
    _card("several_digits", '<p class="verdict-headline">That looks like several digits</p>')
    st.markdown("This tab reads one digit at a time: try a single digit, 0–9, written large.")
    if prediction.hint:
        st.caption(f"From the service: “{prediction.hint}”")


_HEADLINES: dict[api.Verdict, Callable[[api.Prediction], None]] = {
    "digit": _digit,
    "unsure": _unsure,
    "not_a_digit": _not_a_digit,
    "several_digits": _several_digits,
}


def show_pending() -> None:
    """Live mode's card while the pen may still be moving: no digit, no alarm."""
    _card("pending", '<p class="verdict-headline keep-drawing">Keep drawing…</p>')
    st.caption(
        "The answer shows here when you pause; press **Predict** to see what it reads as now."
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
