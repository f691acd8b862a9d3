"""The Upload tab: a picture of one digit from a file, and the answer beside (or below) it.

The file is sent once, when it is chosen: as it is when small, else as an upright, shrunk copy
(upload_prep.py), so a phone's 12-megapixel photo fits the service's limits. A file the service
refuses (not an image, too big) leaves the uploader at once, and the message names it; one that
met a passing failure (the service down or busy) stays, with "Try again".

The uploader takes any file, not only the formats the service reads (PNG, JPEG, GIF, BMP, WebP,
TIFF): for anything else the service's own message says what to send, better than a file picker
that silently greys the file out.
"""

from __future__ import annotations

import functools

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from frontend import answer, attempts, feedback_view, imaging, page, upload_prep
from frontend import client as api

VIEW = "upload"
SLOT = "uploaded"  # the session slot of the upload's last attempt
_GENERATION = "upload_generation"  # a new uploader key empties the uploader


def _uploader_key() -> str:
    return f"upload-{st.session_state.get(_GENERATION, 0)}"


def _send(config: api.ApiConfig) -> None:
    """on_change of the uploader: send the file just chosen, or forget the one removed."""
    upload = st.session_state.get(_uploader_key())
    if upload is None:
        attempts.forget(SLOT)
        return
    attempt = _ask(config, upload)
    if attempt.error is not None and not attempt.error.retryable:
        st.session_state[_GENERATION] = st.session_state.get(_GENERATION, 0) + 1


def _ask(config: api.ApiConfig, upload: UploadedFile) -> attempts.Attempt:
    """Send the file (or its shrunk copy) and remember the outcome."""
    data = upload.getvalue()
    # Typed by what the bytes are, not what the browser guessed from the name (a notes.png of
    # text is "text/plain" to some): the service judges the bytes and says what it cannot read.
    sent = upload_prep.prepare(data)
    return attempts.ask(
        config,
        SLOT,
        imaging.fingerprint(data),
        sent.data,
        sent.content_type,
        label=upload.name,
        note=sent.note,
    )


def render(config: api.ApiConfig) -> None:
    with st.container(key="upload_view", horizontal=True, gap="medium"):
        with st.container(key="upload_input", width=320):
            upload = st.file_uploader(
                "A picture of one digit (PNG, JPEG, GIF, BMP, WebP or TIFF); dark on light or "
                "light on dark both work",
                key=_uploader_key(),
                on_change=_send,
                args=(config,),
            )
            if upload is not None:
                thumbnail = imaging.preview(upload.getvalue())
                if thumbnail is not None:
                    st.image(thumbnail, caption=upload.name)
                last = attempts.last(SLOT)
                if last is not None and last.note:
                    st.caption(last.note)
        with page.answer_container(VIEW):
            _result(config, upload)


def _result(config: api.ApiConfig, upload: UploadedFile | None) -> None:
    last = attempts.last(SLOT)
    if last is None:
        st.info("Upload an image to read the digit in it.")
        return
    retry = None
    if upload is not None and last.error is not None:
        retry = functools.partial(_ask, config, upload)
    page.scroll_to_answer(VIEW, last.serial)
    answer.show_attempt(last, view=VIEW, retry=retry)
    feedback_view.render(config, last, view=VIEW)
