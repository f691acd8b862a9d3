"""Live mode's rule: a drawing nobody asked about is answered only once the pen has paused.

Live mode sends the drawing at the end of every stroke, and the first strokes of a digit are
often read as another digit with confidence, verdict `digit` included (measured on the service:
the first stroke of a 4 reads "6" at 99 %, the top of a 2 "7" at 93 %). The service cannot tell a
half-drawn digit from a whole one, and neither can the page: the canvas reports strokes only when
they end. What tells them apart is time: a person between two strokes of one digit starts the
next within a second or so. So the card says "Keep drawing…" until the drawing has stayed the same
for PAUSE_S, and then shows the whole answer, whatever its verdict, as Predict would.
"""

from __future__ import annotations

import os
import time

import streamlit as st

from frontend import answer
from frontend.attempts import Attempt


def _pause_from_environment() -> float:
    """LIVE_PAUSE_S, when set: the browser tests draw slower than a person on a loaded machine."""
    raw = os.environ.get("LIVE_PAUSE_S", "").strip()
    if not raw:
        return 1.2
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise SystemExit(
            f"LIVE_PAUSE_S must be a number of seconds, e.g. 1.2; got {raw!r}"
        ) from None


PAUSE_S = _pause_from_environment()
# How often the waiting card looks at the clock; a fragment rerun draws only that card.
CHECK_EVERY_S = 0.4


def settled(attempt: Attempt) -> bool:
    """Has the drawing stayed as it was sent for long enough to be the person's answer?"""
    return time.monotonic() - attempt.sent_at >= PAUSE_S


def wait_for_pause(attempt: Attempt) -> None:
    """The neutral "Keep drawing…" card, and a timer that reruns the page once the pause is over
    (Streamlit has no other way to rerun without an interaction)."""
    answer.show_pending()
    _rerun_when_settled(attempt.sent_at)


@st.fragment(run_every=CHECK_EVERY_S)
def _rerun_when_settled(sent_at: float) -> None:
    # A whole-page rerun, not only this fragment: the answer card is outside it. That run draws
    # no timer any more (the attempt has settled), which stops this one.
    if time.monotonic() - sent_at >= PAUSE_S:
        st.rerun()
