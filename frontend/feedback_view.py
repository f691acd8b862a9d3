"""Under an answer: "Right" / "Wrong — it was: 0 … 9 / not a digit", sent to POST /feedback.

A correction is sent with the very image that was predicted (kept in its Attempt), so the service
stores what it read, not whatever is on the canvas now. After sending, a short note says what was
stored and offers Undo (DELETE /feedback/{id}) until the next answer. An unsure or several-digits
answer has nothing to call right, so it asks straight away which digit it was.

Each view keeps one outcome in the session, tied to the answer's `serial`: a new answer starts
afresh. Buttons act in on_click callbacks, so the rerun they cause already shows the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from frontend import attempts, feedback_count
from frontend import client as api

KEPT_NOTE = "Your answer and the drawing are kept to improve the model."


@dataclass(frozen=True)
class Outcome:
    """What became of the last correction sent for the answer numbered `serial`."""

    serial: int
    stored: api.FeedbackStored | None = None
    error: api.ApiError | None = None
    undone: bool = False


def _state_key(view: str) -> str:
    return f"feedback_outcome_{view}"


def _choosing_key(view: str) -> str:
    return f"feedback_choosing_{view}"


def label_text(label: api.Label) -> str:
    return "not a digit" if label == api.NOT_A_DIGIT else f"a {label}"


def render(config: api.ApiConfig, attempt: attempts.Attempt, *, view: str) -> None:
    """The buttons, or the thanks and Undo, for the answer `attempt` holds (if it holds one)."""
    prediction = attempt.prediction
    if prediction is None or attempt.image is None:
        return
    outcome = st.session_state.get(_state_key(view))
    if not isinstance(outcome, Outcome) or outcome.serial != attempt.serial:
        outcome = None  # belongs to an earlier answer
    with st.container(key=f"feedback_box_{view}"):
        if outcome is not None and outcome.error is not None:
            st.error(attempts.sentence(outcome.error.message), icon=":material/error:")
        if outcome is not None and outcome.stored is not None:
            _thanks(config, outcome.stored, view=view, serial=attempt.serial)
            return
        if outcome is not None and outcome.undone:
            st.caption("Undone: that correction was deleted.")
        _ask(config, attempt, prediction, view=view)
        st.caption(KEPT_NOTE)


def _ask(
    config: api.ApiConfig, attempt: attempts.Attempt, prediction: api.Prediction, *, view: str
) -> None:
    # Only a digit or not-a-digit verdict claims something a person can call right.
    claims = prediction.verdict in ("digit", "not_a_digit")
    if claims and st.session_state.get(_choosing_key(view)) != attempt.serial:
        right: api.Label = (
            api.NOT_A_DIGIT if prediction.verdict == "not_a_digit" else prediction.digit
        )
        with st.container(key=f"feedback_verdict_{view}", horizontal=True, gap="small"):
            st.button(
                "Right",
                key=f"feedback_right_{view}",
                icon=":material/thumb_up:",
                on_click=_send,
                args=(config, attempt, view, right),
            )
            st.button(
                "Wrong",
                key=f"feedback_wrong_{view}",
                icon=":material/thumb_down:",
                on_click=_choose,
                args=(view, attempt.serial),
            )
        return
    st.markdown("**It was:**" if claims else "**Which was it?** Tell the model:")
    with st.container(key=f"feedback_labels_{view}", horizontal=True, gap="small"):
        labels: list[api.Label] = [*range(10), api.NOT_A_DIGIT]
        for label in labels:
            st.button(
                "not a digit" if label == api.NOT_A_DIGIT else str(label),
                key=f"feedback_label_{view}_{label}",
                on_click=_send,
                args=(config, attempt, view, label),
            )


def _thanks(config: api.ApiConfig, stored: api.FeedbackStored, *, view: str, serial: int) -> None:
    with st.container(key=f"feedback_thanks_{view}", horizontal=True, vertical_alignment="center"):
        st.success(f"Thanks — stored as {label_text(stored.label)}", icon=":material/check:")
        st.button(
            "Undo",
            key=f"feedback_undo_{view}",
            icon=":material/undo:",
            on_click=_undo,
            args=(config, view, serial, stored),
        )


def _choose(view: str, serial: int) -> None:
    st.session_state[_choosing_key(view)] = serial


def _send(config: api.ApiConfig, attempt: attempts.Attempt, view: str, label: api.Label) -> None:
    assert attempt.image is not None  # render() offers no buttons without it
    try:
        stored = api.send_feedback(config, attempt.image, attempt.content_type, label)
        outcome = Outcome(attempt.serial, stored=stored)
    except api.ApiError as error:
        outcome = Outcome(attempt.serial, error=error)  # the buttons stay: pressing again retries
    attempts.count_request()
    feedback_count.changed()
    st.session_state[_state_key(view)] = outcome


def _undo(config: api.ApiConfig, view: str, serial: int, stored: api.FeedbackStored) -> None:
    try:
        api.undo_feedback(config, stored.id)
        outcome = Outcome(serial, undone=True)
    except api.ApiError as error:
        outcome = Outcome(serial, stored=stored, error=error)  # still stored: Undo stays
    attempts.count_request()
    feedback_count.changed()
    st.session_state[_choosing_key(view)] = None
    st.session_state[_state_key(view)] = outcome
