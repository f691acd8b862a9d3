"""What the page remembers between reruns about each input: the last request's outcome.

Streamlit reruns the whole script on every interaction, so each input (the drawing, the upload)
keeps its last `Attempt` in the session under a slot name; `ask` sends an image and records the
outcome there.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from frontend import client as api


@dataclass
class Attempt:
    """The outcome of the last request for one input: a prediction or the error that stopped it.

    `key` identifies the input (a fingerprint of the image bytes), so the page can tell whether
    the answer belongs to what is on screen now.
    """

    key: str
    prediction: api.Prediction | None = None
    error: api.ApiError | None = None


def sentence(message: str) -> str:
    """Client messages start lower-case so they read well mid-sentence in logs; not on screen."""
    return message[:1].upper() + message[1:]


def last(slot: str) -> Attempt | None:
    attempt = st.session_state.get(slot)
    return attempt if isinstance(attempt, Attempt) else None


def forget(slot: str) -> None:
    st.session_state.pop(slot, None)


def ask(config: api.ApiConfig, slot: str, key: str, image: bytes, content_type: str) -> Attempt:
    """Send one image to POST /predict and remember the outcome under `slot`."""
    try:
        attempt = Attempt(key, prediction=api.predict(config, image, content_type))
    except api.ApiError as error:
        attempt = Attempt(key, error=error)
    st.session_state[slot] = attempt
    return attempt
