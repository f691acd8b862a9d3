"""The Draw tab: a canvas for one digit, Predict, and the answer beside (or below) it."""

from __future__ import annotations

import numpy as np
import streamlit as st

from frontend import answer, attempts, canvas, imaging
from frontend import client as api

SLOT = "drawn"  # the session slot of the drawing's last attempt


def clear_canvas() -> None:
    """A fresh canvas: the component has no clear call, but a new key gives an empty one."""
    st.session_state["canvas_generation"] = st.session_state.get("canvas_generation", 0) + 1
    attempts.forget(SLOT)


def render(config: api.ApiConfig) -> None:
    canvas_column, result_column = st.columns([1, 1], gap="large")
    with canvas_column:
        stroke_width = st.slider("Stroke width", 6, 40, 18, key="stroke_width", width=canvas.SIZE)
        drawing = canvas.draw(
            stroke_width, key=f"canvas-{st.session_state.get('canvas_generation', 0)}"
        )
        with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
            clicked = st.button("Predict", type="primary", key="predict", icon=":material/bolt:")
            st.button("Clear", key="clear", icon=":material/ink_eraser:", on_click=clear_canvas)
            live = st.toggle("Predict as I draw", key="live")
        st.caption("Undo and redo: the toolbar at the canvas's top-right corner, on hover.")

    with result_column:
        _result(config, drawing.pixels, clicked, live)


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
    last = attempts.last(SLOT)
    # Live mode sends each new drawing once; an error is not retried on every rerun. An identical
    # drawing that already has an answer is not sent again.
    if (clicked and not (last and last.key == key and last.prediction)) or (
        live and (last is None or last.key != key)
    ):
        last = attempts.ask(config, SLOT, key, png, "image/png")
    if last is None or (last.error is not None and last.key != key):
        st.info("Press **Predict** to read your drawing.")
    else:
        answer.show_attempt(last, view="draw", stale=last.key != key)
