"""What the page remembers between reruns about each input: the last request's outcome.

Streamlit reruns the whole script on every interaction, so each input (the drawing, the upload,
the number) keeps its last `Attempt` in the session under a slot name; `ask` (POST /predict) and
`read` (POST /read) send an image and record the outcome there. Every request also counts in `requests_made`, which tells the sidebar to ask the
service's health again: whatever a request found out (down, back, busy) shows there at once.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import streamlit as st

from frontend import client as api

_SERIALS = itertools.count(1)
_REQUESTS = "requests_made"


@dataclass
class Attempt:
    """The outcome of the last request for one input: a prediction or the error that stopped it.

    `key` identifies the input (a fingerprint of the image bytes), so the page can tell whether
    the answer belongs to what is on screen now; `label` names it for a person (a file name);
    `note` says what the page did to it before sending (shrunk a big photo), if anything;
    `serial` is unique to each request; `asked` is True when a person's click sent it (not live
    mode), which is when the page brings the answer into view; `sent_at` is when it was sent
    (time.monotonic), which live mode uses to tell a pause from a pen between two strokes.
    Both keep the `image` as sent (and its `content_type`): a reading's boxes are drawn over it,
    and a correction (feedback_view.py) sends it, which may no longer be what is on the canvas.
    """

    key: str
    prediction: api.Prediction | None = None
    reading: api.Reading | None = None
    image: bytes | None = None
    error: api.ApiError | None = None
    content_type: str = "image/png"
    label: str | None = None
    note: str | None = None
    serial: int = 0
    asked: bool = False
    sent_at: float = field(default_factory=time.monotonic)


def sentence(message: str) -> str:
    """Client messages start lower-case so they read well mid-sentence in logs; not on screen."""
    return message[:1].upper() + message[1:]


def last(slot: str) -> Attempt | None:
    attempt = st.session_state.get(slot)
    return attempt if isinstance(attempt, Attempt) else None


def forget(slot: str) -> None:
    st.session_state.pop(slot, None)


def requests_made() -> int:
    """How many requests this session has sent so far."""
    return int(st.session_state.get(_REQUESTS, 0))


def ask(
    config: api.ApiConfig,
    slot: str,
    key: str,
    image: bytes,
    content_type: str,
    *,
    label: str | None = None,
    note: str | None = None,
    asked: bool = True,
) -> Attempt:
    """Send one image to POST /predict and remember the outcome under `slot`."""
    attempt = Attempt(
        key,
        image=image,
        content_type=content_type,
        label=label,
        note=note,
        serial=next(_SERIALS),
        asked=asked,
    )
    try:
        attempt.prediction = api.predict(config, image, content_type)
    except api.ApiError as error:
        attempt.error = error
    _record(slot, attempt)
    return attempt


def read(config: api.ApiConfig, slot: str, key: str, image: bytes) -> Attempt:
    """Send the image of a number to POST /read and remember the outcome under `slot`."""
    attempt = Attempt(key, image=image, serial=next(_SERIALS), asked=True)
    try:
        attempt.reading = api.read(config, image, "image/png")
    except api.ApiError as error:
        attempt.error = error
    _record(slot, attempt)
    return attempt


def count_request() -> None:
    """One more request sent (any endpoint): the sidebar asks the service again after it."""
    st.session_state[_REQUESTS] = requests_made() + 1


def _record(slot: str, attempt: Attempt) -> None:
    count_request()
    st.session_state[slot] = attempt
