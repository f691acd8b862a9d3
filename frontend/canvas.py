"""The drawing canvas widget, behind one function the views call and tests can replace, and the
stroke history (undo/redo/clear) each canvas keeps in the session.

`streamlit_drawable_canvas` registers its component when imported and raises outside a running
Streamlit, so it is imported inside `draw`, never at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from frontend.history import StrokeHistory

SIZE = 280  # ten canvas pixels per MNIST pixel: the square canvas for one digit


@dataclass(frozen=True)
class Drawing:
    """What the canvas reported: its pixels (HxWx4 RGBA) and its strokes (Fabric.js objects).

    Either is None until the canvas has reported once.
    """

    pixels: np.ndarray | None
    objects: list[dict[str, Any]] | None = None


def history(key: str) -> StrokeHistory:
    """The stroke history of the canvas `key`, kept in the session across reruns."""
    slot = f"{key}_history"
    found = st.session_state.get(slot)
    if not isinstance(found, StrokeHistory):
        found = st.session_state[slot] = StrokeHistory()
    return found


def draw(
    stroke_width: int,
    *,
    key: str,
    width: int = SIZE,
    height: int = SIZE,
    initial_drawing: dict[str, Any] | None = None,
) -> Drawing:
    """Show a canvas (white ink on black) of `width`×`height` CSS pixels and return its drawing.

    `initial_drawing` (Fabric.js JSON) replaces what is on the canvas whenever it changes.
    """
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        fill_color="rgba(0, 0, 0, 0)",
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=height,
        width=width,
        drawing_mode="freedraw",
        initial_drawing=initial_drawing,
        # Sends the drawing to Python on every stroke's end, which is what "live" predictions
        # need; the page itself decides whether a rerun calls the API.
        update_streamlit=True,
        return_image_data=True,
        key=key,
    )
    objects = result.json_data.get("objects") if result.json_data else None
    return Drawing(result.image_data, objects if isinstance(objects, list) else None)
