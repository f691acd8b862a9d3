"""The bar chart of all ten probabilities; the digit read is highlighted only when the service
stands by it (verdict `digit`), the candidates of an unsure answer in a neutral grey, nothing
otherwise."""

from __future__ import annotations

import altair as alt
import pandas as pd

from frontend import client as api

TITLE = "Probability of each digit"
HIGHLIGHT = "#ff4b4b"  # the page's accent, as the digit in the answer card
CANDIDATE = "#5c6070"
MUTED = "#a3a8b8"


def bar_colours(prediction: api.Prediction) -> list[str]:
    """One colour per digit 0-9."""
    if prediction.verdict == "digit":
        return [HIGHLIGHT if digit == prediction.digit else MUTED for digit in range(10)]
    if prediction.verdict == "unsure":
        candidates = {prediction.digit} | {a.digit for a in prediction.alternatives}
        return [CANDIDATE if digit in candidates else MUTED for digit in range(10)]
    return [MUTED] * 10


def probability_chart(prediction: api.Prediction) -> alt.Chart:
    data = pd.DataFrame(
        {
            "digit": [str(digit) for digit in range(10)],
            "probability": prediction.probabilities,
            "colour": bar_colours(prediction),
        }
    )
    return (
        # The title is never shortened to "Probability…", and all ten digits keep their label
        # however narrow the chart (Vega drops labels it thinks overlap).
        alt.Chart(data, title=alt.Title(TITLE, anchor="start", limit=0))
        .mark_bar()
        .encode(
            x=alt.X(
                "digit:N", sort=None, axis=alt.Axis(labelAngle=0, labelOverlap=False, title=None)
            ),
            y=alt.Y(
                "probability:Q",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", title=None),
            ),
            color=alt.Color("colour:N", scale=None),
            tooltip=["digit", alt.Tooltip("probability:Q", format=".2%")],
        )
        .properties(height=220)
    )
