"""The Draw tab: a canvas for one digit, Predict with Undo/Redo/Clear beside it, and the answer.

The input block has the canvas's width; the answer goes beside it when the window has room and
below it when not (see page.py), where it is scrolled into view after Predict. "Predict as I
draw" sends each stroke's drawing, and shows the answer once the pen pauses (live.py).
"""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from frontend import answer, attempts, canvas, feedback_view, imaging, page
from frontend import client as api
from frontend import live as live_rule

VIEW = "draw"
SLOT = "drawn"  # the session slot of the drawing's last attempt
CANVAS_KEY = "canvas"


def render(config: api.ApiConfig) -> None:
    with st.container(key="draw_view", horizontal=True, gap="medium"):
        with st.container(key="draw_input", width=canvas.SIZE):
            pixels, clicked, live = _input()
        with page.answer_container(VIEW):
            _result(config, pixels, clicked, live)


def _input() -> tuple[np.ndarray | None, bool, bool]:
    """The stroke width, the canvas and its buttons: (the canvas's pixels, Predict?, live?)."""
    stroke_width = st.slider("Stroke width", 6, 40, 18, key="stroke_width")
    history = canvas.history(CANVAS_KEY)
    drawing = canvas.draw(stroke_width, key=CANVAS_KEY, initial_drawing=history.initial_drawing)
    history.observe(drawing.objects)
    # Editing right under the canvas, then the one thing to do next, as wide as the canvas.
    with st.container(key="draw_controls", horizontal=True, gap="xsmall"):
        for label, icon, action, enabled in (
            ("Undo", ":material/undo:", history.undo, history.can_undo),
            ("Redo", ":material/redo:", history.redo, history.can_redo),
            ("Clear", ":material/ink_eraser:", history.clear, not history.is_empty),
        ):
            st.button(label, key=label.lower(), icon=icon, on_click=action, disabled=not enabled)
    clicked = st.button(
        "Predict", type="primary", key="predict", icon=":material/bolt:", width="stretch"
    )
    live = st.toggle("Predict as I draw", key="live")
    return drawing.pixels, clicked, live


def _result(config: api.ApiConfig, pixels: np.ndarray | None, clicked: bool, live: bool) -> None:
    if pixels is None or imaging.is_blank(pixels):
        # A cleared canvas also clears the answer that belonged to the old drawing.
        attempts.forget(SLOT)
        if clicked:
            st.warning("Draw a digit first: the canvas is empty.", icon=":material/draw:")
        else:
            st.info("Draw a digit on the black square, then press **Predict**.")
        return
    png = imaging.canvas_to_png(pixels)
    key = imaging.fingerprint(png)
    send = functools.partial(attempts.ask, config, SLOT, key, png, "image/png")
    last = attempts.last(SLOT)
    # Predict always asks (an old answer is never passed off as current); live mode sends each
    # new drawing once, so an error is not retried on every rerun.
    if clicked:
        last = send()
    elif live and (last is None or last.key != key):
        last = send(asked=False)
    if last is None or (last.error is not None and last.key != key):
        st.info("Press **Predict** to read your drawing.")
        return
    if last.asked:
        page.scroll_to_answer(VIEW, last.serial)
    # Live mode reads every stroke, half-drawn digits included: what it sent on its own waits
    # for the pen to pause (live.py). An error shows at once: waiting would not change it.
    if live and not last.asked and last.error is None and not live_rule.settled(last):
        live_rule.wait_for_pause(last)
        return
    answer.show_attempt(last, view=VIEW, stale=last.key != key, retry=send)
    feedback_view.render(config, last, view=VIEW)
