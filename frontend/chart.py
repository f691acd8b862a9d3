"""The bar chart of all ten probabilities, the predicted digit highlighted."""

from __future__ import annotations

import altair as alt
import pandas as pd

from frontend import client as api

TITLE = "Probability of each digit"
HIGHLIGHT = "#ff4b4b"
MUTED = "#a3a8b8"


def probability_chart(prediction: api.Prediction) -> alt.Chart:
    data = pd.DataFrame(
        {
            "digit": [str(digit) for digit in range(10)],
            "probability": prediction.probabilities,
            "predicted": [digit == prediction.digit for digit in range(10)],
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
            color=alt.condition(alt.datum.predicted, alt.value(HIGHLIGHT), alt.value(MUTED)),
            tooltip=["digit", alt.Tooltip("probability:Q", format=".2%")],
        )
        .properties(height=220)
    )
