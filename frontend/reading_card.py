"""The answer card of the Number tab: the number read, each digit's box over the drawing, and how
sure the service is of each digit.

The boxes are HTML over the image that was read (positions in percent of it), not pixels painted
into it: they scale with the picture, stay sharp, and a test can count them. Wording follows each
piece's verdict, as the one-digit card does (answer.py): a digit the service is unsure of is grey,
a piece that is no digit is "?", and the large number is offered only when some digit was read.
"""

from __future__ import annotations

import base64
import html
import io

import streamlit as st
from PIL import Image

from frontend import client as api

UNSURE_NOTE = "Grey digits: not sure which digit that is; try writing it larger and more clearly."
UNREAD_NOTE = "“?” is a mark that doesn't look like a digit."


def show(reading: api.Reading, image: bytes, *, stale: bool = False) -> None:
    """The reading, the drawing that was read with a box per digit, and each digit's confidence."""
    st.markdown(headline(reading), unsafe_allow_html=True)
    if stale:
        st.info("The drawing changed since; press **Read** to read it again.")
    notes = [
        note
        for note, shown in (
            (UNSURE_NOTE, any(d.verdict == "unsure" for d in reading.digits)),
            (UNREAD_NOTE, any(d.verdict == "not_a_digit" for d in reading.digits)),
        )
        if shown
    ]
    if notes:
        st.caption(" ".join(notes))
    st.markdown(boxes(image, reading.digits), unsafe_allow_html=True)
    st.markdown(confidences(reading.digits), unsafe_allow_html=True)
    st.caption(f"{reading.model} on {reading.device}, {reading.latency_ms:.1f} ms in the service")


def headline(reading: api.Reading) -> str:
    """ "I read 147", each digit styled by its verdict; or why there is no number to show."""
    if not any(d.verdict != "not_a_digit" for d in reading.digits):
        return (
            '<div class="reading-card" data-text="">'
            '<p class="reading-headline">That doesn\'t look like a number</p></div>'
        )
    chars = "".join(
        f'<span class="read-char" data-verdict="{d.verdict}">{html.escape(d.char)}</span>'
        for d in reading.digits
    )
    return (
        f'<div class="reading-card" data-text="{html.escape(reading.text)}">'
        f'<span class="label">I read</span><span class="read-number">{chars}</span></div>'
    )


def boxes(image: bytes, digits: tuple[api.ReadDigit, ...]) -> str:
    """The image as sent, with each digit's box and its digit laid over it."""
    with Image.open(io.BytesIO(image)) as picture:
        width, height = picture.size
    encoded = base64.b64encode(image).decode()
    marks = "".join(
        f'<div class="digit-box" data-verdict="{d.verdict}" style="left:{_pct(d.box.x, width)};'
        f"top:{_pct(d.box.y, height)};width:{_pct(d.box.width, width)};"
        f'height:{_pct(d.box.height, height)}"><span>{html.escape(d.char)}</span></div>'
        for d in digits
    )
    # The figure is as big as the image in it (page.py), so its percentages are the image's.
    return (
        '<div class="reading-boxes">'
        f'<img src="data:image/png;base64,{encoded}" alt="Your drawing, as read">{marks}</div>'
    )


def confidences(digits: tuple[api.ReadDigit, ...]) -> str:
    """One chip per digit, left to right: the digit and how sure the service is of it."""
    chips = "".join(
        f'<span class="digit-chip" data-verdict="{d.verdict}">'
        f'<span class="chip-digit">{html.escape(d.char)}</span>'
        f'<span class="chip-confidence">{_chip_words(d)}</span></span>'
        for d in digits
    )
    return f'<div class="digit-chips">{chips}</div>'


def _chip_words(digit: api.ReadDigit) -> str:
    if digit.verdict == "not_a_digit":
        return "not a digit"
    if digit.verdict == "unsure":
        others = "".join(f" or {a.digit}" for a in digit.alternatives)
        return f"{digit.confidence:.0%}, {digit.digit}{others}?"
    return f"{digit.confidence:.0%}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / max(whole, 1):.2f}%"
