"""The Number tab: a wide canvas for a number of several digits, Read with Undo/Redo/Clear, and the
reading with each digit's box (reading_card.py).

The canvas is 3:1 and no wider than a 360 px phone's column, so it is whole on every screen, as
the Draw tab's square is; the reading goes beside it when there is room, else below it, brought
into view after Read.
"""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from frontend import answer, attempts, canvas, imaging, page, reading_card
from frontend import client as api

VIEW = "number"
SLOT = "number_attempt"  # the session slot of the number's last attempt
CANVAS_KEY = "number_canvas"
# A 360 px phone leaves 328 px between the page's margins (page.py); 3:1 within that.
WIDTH, HEIGHT = 324, 108
# About a tenth of a digit's height, as MNIST's strokes are: /read reads these reliably.
STROKE_WIDTH = 10


def render(config: api.ApiConfig) -> None:
    with st.container(key="number_view", horizontal=True, gap="medium"):
        with st.container(key="number_input", width=WIDTH):
            pixels, clicked = _input()
        with page.answer_container(VIEW):
            _result(config, pixels, clicked)


def _input() -> tuple[np.ndarray | None, bool]:
    """The canvas and its buttons: (the canvas's pixels, Read pressed?)."""
    history = canvas.history(CANVAS_KEY)
    drawing = canvas.draw(
        STROKE_WIDTH,
        key=CANVAS_KEY,
        width=WIDTH,
        height=HEIGHT,
        initial_drawing=history.initial_drawing,
    )
    history.observe(drawing.objects)
    with st.container(key="number_controls", horizontal=True, gap="xsmall"):
        for label, icon, action, enabled in (
            ("Undo", ":material/undo:", history.undo, history.can_undo),
            ("Redo", ":material/redo:", history.redo, history.can_redo),
            ("Clear", ":material/ink_eraser:", history.clear, not history.is_empty),
        ):
            st.button(
                label,
                key=f"number_{label.lower()}",
                icon=icon,
                on_click=action,
                disabled=not enabled,
            )
    clicked = st.button(
        "Read", type="primary", key="number_read", icon=":material/pin:", width="stretch"
    )
    return drawing.pixels, clicked


def _result(config: api.ApiConfig, pixels: np.ndarray | None, clicked: bool) -> None:
    if pixels is None or imaging.is_blank(pixels):
        attempts.forget(SLOT)  # a cleared canvas clears the reading of the old drawing too
        if clicked:
            st.warning("Write a number first: the canvas is empty.", icon=":material/draw:")
        else:
            st.info("Write a number on the black strip, digits side by side, then press **Read**.")
        return
    png = imaging.canvas_to_png(pixels)
    key = imaging.fingerprint(png)
    send = functools.partial(attempts.read, config, SLOT, key, png)
    # Read always asks: an old reading is never passed off as the current one.
    last = send() if clicked else attempts.last(SLOT)
    if last is None or (last.error is not None and last.key != key):
        st.info("Press **Read** to read your number.")
        return
    page.scroll_to_answer(VIEW, last.serial)
    if last.error is not None:
        answer.show_error(last.error, view=VIEW, retry=send)
    elif last.reading is not None and last.image is not None:
        reading_card.show(last.reading, last.image, stale=last.key != key)
