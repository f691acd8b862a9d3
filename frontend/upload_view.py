"""The Upload tab: a picture of one digit from a file, and the answer beside (or below) it."""

from __future__ import annotations

import functools

import streamlit as st

from frontend import answer, attempts, imaging
from frontend import client as api

SLOT = "uploaded"  # the session slot of the upload's last attempt


def render(config: api.ApiConfig) -> None:
    upload_column, result_column = st.columns([1, 1], gap="large")
    with upload_column:
        upload = st.file_uploader(
            "An image of one digit (PNG or JPEG); dark on light or light on dark both work",
            type=["png", "jpg", "jpeg", "bmp", "gif", "webp"],
            key="upload",
        )
        if upload is not None:
            thumbnail = imaging.preview(upload.getvalue())
            if thumbnail is None:
                st.caption(f"{upload.name}: no preview, this does not look like an image.")
            else:
                st.image(thumbnail, caption=upload.name)
    with result_column:
        if upload is None:
            attempts.forget(SLOT)
            st.info("Upload an image to read the digit in it.")
            return
        data = upload.getvalue()
        content_type = upload.type or imaging.guess_content_type(data)
        key = imaging.fingerprint(data)
        last = attempts.last(SLOT)
        if last is None or last.key != key:
            last = attempts.ask(config, SLOT, key, data, content_type)
        answer.show_attempt(
            last,
            view="upload",
            retry=functools.partial(attempts.ask, config, SLOT, key, data, content_type),
        )
