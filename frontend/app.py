"""The page: `streamlit run frontend/app.py`. It composes the parts and holds no logic itself.

- `page`: title, icon, CSS;  `status`: the sidebar (is the service there, which model);
- `draw_view`, `upload_view`, `number_view`: one tab each, an input and its answer;
- `answer`, `chart`: the answer card of one digit;  `feedback_view`: Right/Wrong under it, with
  Undo;  `feedback_count`: the sidebar's count of corrections;  `reading_card`: of a number (/read);  `attempts`: each input's last outcome;
- `client`: the only code that talks HTTP (API_URL, optional API_KEY);  `canvas`, `imaging`.

A new tab is a module with `render(config)` and one line below.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run frontend/app.py` puts frontend/ on sys.path, not the project root; this lets the
# page run from a plain checkout where the project was not pip-installed.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from frontend import client as api  # noqa: E402
from frontend import draw_view, number_view, page, status, upload_view  # noqa: E402


def main() -> None:
    page.setup()
    config = api.ApiConfig.from_env()
    page.header()
    draw, upload, number = st.tabs(["Draw", "Upload", "Number"])
    with draw:
        draw_view.render(config)
    with upload:
        upload_view.render(config)
    with number:
        number_view.render(config)
    # Last, so that it reports what this run's request (if any) found out about the service.
    status.sidebar(config)


main()
