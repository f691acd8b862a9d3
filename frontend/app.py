"""The drawing page: `streamlit run frontend/app.py`.

Layout and flow only. Every prediction goes to the inference service over HTTP through
`frontend.client` (API_URL, optional API_KEY); pixels are converted by `frontend.imaging`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

# `streamlit run frontend/app.py` puts frontend/ on sys.path, not the project root; this lets the
# page run from a plain checkout where the project was not pip-installed.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import altair as alt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from frontend import canvas, imaging  # noqa: E402
from frontend import client as api  # noqa: E402

UNCERTAIN_BELOW = 0.60
HEALTH_TTL_S = 10.0  # each stroke reruns the page; the sidebar need not ask /health every time
INPUT_SCALE = 7  # 28 px -> 196 px, whole pixels so the model's input stays crisp

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


@dataclass
class Attempt:
    """The outcome of the last request for one input: a prediction or an error message."""

    key: str
    prediction: api.Prediction | None = None
    error: str | None = None


def sentence(message: str) -> str:
    """Client messages start lower-case so they read well mid-sentence in logs; not on screen."""
    return message[:1].upper() + message[1:]


def health_status(config: api.ApiConfig, force: bool = False) -> api.Health | str:
    """/health, or the reason it could not be asked, reused for a few seconds per session."""
    cached = st.session_state.get("health")
    if not force and cached and cached[0] == config and time.monotonic() - cached[1] < HEALTH_TTL_S:
        return cached[2]
    try:
        status: api.Health | str = api.get_health(config)
    except api.ApiError as error:
        status = error.message
    st.session_state["health"] = (config, time.monotonic(), status)
    return status


def sidebar(config: api.ApiConfig) -> None:
    with st.sidebar:
        st.header("Prediction service")
        recheck = st.button("Check again", key="recheck", icon=":material/refresh:")
        status = health_status(config, force=recheck)
        if isinstance(status, str):
            st.error(sentence(status), icon=":material/cloud_off:")
        elif status.ok and status.model:
            st.success("Ready", icon=":material/check_circle:")
            accuracy = status.model.test_accuracy
            st.markdown(
                f"**Model** {status.model.name}  \n"
                f"**Test accuracy** {'n/a' if accuracy is None else f'{accuracy:.2%}'}  \n"
                f"**Device** {status.device}  \n"
                f"**Parameters** {status.model.parameters:,}"
            )
        else:
            st.warning(
                f"Reachable, but it cannot predict: {status.reason or 'model not loaded'}",
                icon=":material/hourglass_empty:",
            )
        st.caption("API URL")
        st.code(config.url, language=None)
        if config.api_key:
            st.caption("Sending the API key from API_KEY.")


def request(config: api.ApiConfig, slot: str, key: str, image: bytes, content_type: str) -> None:
    """Send one image unless this exact image already has a prediction; remember the outcome."""
    previous: Attempt | None = st.session_state.get(slot)
    if previous and previous.key == key and previous.prediction:
        return  # identical input: the answer is already on screen
    try:
        attempt = Attempt(key, prediction=api.predict(config, image, content_type))
    except api.ApiError as error:
        attempt = Attempt(key, error=sentence(error.message))
    st.session_state[slot] = attempt


def probability_chart(prediction: api.Prediction) -> alt.Chart:
    data = pd.DataFrame(
        {
            "digit": [str(digit) for digit in range(10)],
            "probability": prediction.probabilities,
            "predicted": [digit == prediction.digit for digit in range(10)],
        }
    )
    return (
        alt.Chart(data, title="Probability of each digit")
        .mark_bar()
        .encode(
            x=alt.X("digit:N", sort=None, axis=alt.Axis(labelAngle=0, title=None)),
            y=alt.Y(
                "probability:Q",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", title=None),
            ),
            color=alt.condition(alt.datum.predicted, alt.value("#ff4b4b"), alt.value("#a3a8b8")),
            tooltip=["digit", alt.Tooltip("probability:Q", format=".2%")],
        )
        .properties(height=220)
    )


def show_prediction(prediction: api.Prediction, stale: bool = False) -> None:
    uncertain = prediction.confidence < UNCERTAIN_BELOW
    css_class = "predicted-digit uncertain" if uncertain else "predicted-digit"
    st.markdown(
        f'<div class="digit-card"><span class="label">I read</span>'
        f'<span class="{css_class}" data-digit="{prediction.digit}">{prediction.digit}</span>'
        "</div>",
        unsafe_allow_html=True,
    )
    st.progress(prediction.confidence, text=f"Confidence {prediction.confidence:.1%}")
    if uncertain:
        (first, p_first), (second, p_second) = prediction.top(2)
        st.warning(
            f"Uncertain: it could be {first} ({p_first:.0%}) or {second} ({p_second:.0%}). "
            "Try drawing it larger and centred.",
            icon=":material/help:",
        )
    if stale:
        st.info("The drawing changed since; press **Predict** to read it again.")
    chart_column, input_column = st.columns([3, 2], vertical_alignment="bottom")
    chart_column.altair_chart(probability_chart(prediction), width="stretch")
    if prediction.input_png:
        input_column.image(
            imaging.enlarge(prediction.input_png, INPUT_SCALE),
            caption="What the model saw (28×28)",
        )
    st.caption(
        f"{prediction.model} on {prediction.device}, {prediction.latency_ms:.1f} ms in the service"
    )


def clear_canvas() -> None:
    """A fresh canvas: the component has no clear call, but a new key gives an empty one."""
    st.session_state["canvas_generation"] = st.session_state.get("canvas_generation", 0) + 1
    st.session_state.pop("drawn", None)


def draw_tab(config: api.ApiConfig) -> None:
    canvas_column, result_column = st.columns([1, 1], gap="large")
    with canvas_column:
        stroke_width = st.slider("Stroke width", 6, 40, 18, key="stroke_width", width=canvas.SIZE)
        pixels = canvas.draw(
            stroke_width, key=f"canvas-{st.session_state.get('canvas_generation', 0)}"
        )
        with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
            clicked = st.button("Predict", type="primary", key="predict", icon=":material/bolt:")
            st.button("Clear", key="clear", icon=":material/ink_eraser:", on_click=clear_canvas)
            live = st.toggle("Predict as I draw", key="live")
        st.caption("Undo and redo: the toolbar at the canvas's top-right corner, on hover.")

    with result_column:
        if imaging.is_blank(pixels):
            # A cleared canvas also clears the answer that belonged to the old drawing.
            st.session_state.pop("drawn", None)
            if clicked:
                st.warning("Draw a digit first: the canvas is empty.", icon=":material/draw:")
            else:
                st.info("Draw a digit on the black square, then press **Predict**.")
            return
        assert pixels is not None  # is_blank() said so; this narrows the type
        png = imaging.canvas_to_png(pixels)
        key = imaging.fingerprint(png)
        last: Attempt | None = st.session_state.get("drawn")
        # Live mode sends each new drawing once; an error is not retried on every rerun.
        if clicked or (live and (last is None or last.key != key)):
            request(config, "drawn", key, png, "image/png")
            last = st.session_state["drawn"]
        if last is not None and last.error and last.key == key:
            st.error(last.error, icon=":material/error:")
        elif last is not None and last.prediction:
            show_prediction(last.prediction, stale=last.key != key)
        else:
            st.info("Press **Predict** to read your drawing.")


def upload_tab(config: api.ApiConfig) -> None:
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
            st.session_state.pop("uploaded", None)
            st.info("Upload an image to read the digit in it.")
            return
        data = upload.getvalue()
        content_type = upload.type or imaging.guess_content_type(data)
        key = imaging.fingerprint(data)
        if (last := st.session_state.get("uploaded")) is None or last.key != key:
            request(config, "uploaded", key, data, content_type)
        last = st.session_state["uploaded"]
        if last.error:
            st.error(last.error, icon=":material/error:")
            # A callback runs before the rerun, so the retried outcome is what that rerun shows.
            st.button(
                "Try again",
                key="retry_upload",
                on_click=request,
                args=(config, "uploaded", key, data, content_type),
            )
        elif last.prediction:
            show_prediction(last.prediction)


def main() -> None:
    st.set_page_config(page_title="Digit reader", page_icon="✍️", layout="wide")
    st.html(CSS)  # style-only HTML goes to an invisible container, taking no space
    config = api.ApiConfig.from_env()
    st.title("✍️ Digit reader")
    st.markdown(
        "Draw one digit (0–9) in the black square with your mouse or finger and press "
        "**Predict**, or upload a picture of one in the *Upload* tab."
    )
    sidebar(config)
    draw, upload = st.tabs(["Draw", "Upload"])
    with draw:
        draw_tab(config)
    with upload:
        upload_tab(config)


main()
