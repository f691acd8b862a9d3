"""The drawing canvas widget, behind one function the page calls and tests can replace.

`streamlit_drawable_canvas` registers its component when imported and raises outside a running
Streamlit, so it is imported inside `draw`, never at module level.
"""

from __future__ import annotations

import numpy as np

SIZE = 280  # ten canvas pixels per MNIST pixel


def draw(stroke_width: int, key: str = "canvas") -> np.ndarray | None:
    """Show the canvas (white ink on black) and return its pixels as HxWx4 RGBA, or None."""
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        fill_color="rgba(0, 0, 0, 0)",
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=SIZE,
        width=SIZE,
        drawing_mode="freedraw",
        # Sends the drawing to Python on every mouse-up, which is what "live" predictions need;
        # the page itself decides whether a rerun calls the API.
        update_streamlit=True,
        return_image_data=True,
        key=key,
    )
    return result.image_data
