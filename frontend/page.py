"""The page's frame: title, icon, layout and the few CSS rules Streamlit has no option for."""

from __future__ import annotations

import streamlit as st

TITLE = "Digit reader"
ICON = "✍️"

CSS = """
<style>
.digit-card {display: flex; align-items: baseline; gap: 1rem; margin-bottom: .25rem;}
.digit-card .label {color: #808495; font-size: 1rem;}
.predicted-digit {font-size: 7rem; font-weight: 700; line-height: 1; color: #ff4b4b;}
.predicted-digit.uncertain {color: #808495;}
[data-testid="stImage"] img {image-rendering: pixelated;}
[data-testid="stMainBlockContainer"] {padding-top: 2.5rem;}
[data-testid="stAppDeployButton"] {display: none;}
</style>
"""


def setup() -> None:
    """Must run first: Streamlit takes the page's settings only before any element."""
    st.set_page_config(page_title=TITLE, page_icon=ICON, layout="wide")
    st.html(CSS)  # style-only HTML goes to an invisible container, taking no space


def header() -> None:
    st.title(f"{ICON} {TITLE}")
    st.markdown(
        "Draw one digit (0–9) in the black square with your mouse or finger and press "
        "**Predict**, or upload a picture of one in the *Upload* tab."
    )
