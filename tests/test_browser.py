"""End to end in headless Chromium: the real API, the real Streamlit page, real mouse strokes.

Recipe and traps: /work/shared/notes/browser-testing.md (move before pressing, keep strokes inside
the canvas and below Streamlit's header, wait for the drawing to reach Python before clicking).

With TEST_UI_URL set (e.g. http://127.0.0.1:8501), the tests drive that already-running UI, and
whatever API it was started with, instead of starting both here: `make container-check` points it
at the UI image run beside the API image.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.servers import LiveServer, free_port, run_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
SCREENSHOT = ROOT / "docs" / "ui-screenshot.png"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 20_000  # a shared 2-core machine can be slow to rerun the page

if not CHROMIUM.is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is absent")
expect = sync_api.expect
# expect() waits 5 s by default, whatever the page's timeout: too short on a busy machine.
expect.set_options(timeout=TIMEOUT_MS)

# Strokes as fractions of the canvas box; each list is one press-move-release.
ONE = [[(0.50, 0.18), (0.50, 0.82)]]
SEVEN = [[(0.28, 0.22), (0.72, 0.22), (0.42, 0.82)]]


@pytest.fixture(scope="module")
def ui_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if running := os.environ.get("TEST_UI_URL"):
        yield running.rstrip("/")
        return
    api_server: LiveServer = request.getfixturevalue("api_server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "streamlit", "run", "frontend/app.py",
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--server.port", str(port), "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    env = {"API_URL": api_server.url}
    with run_server(command, f"{url}/_stcore/health", env, log_name="streamlit"):
        yield url


@pytest.fixture
def page(ui_url: str) -> Iterator[sync_api.Page]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            # Tall enough that the canvas sits below the fixed header without scrolling.
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(ui_url)
            yield page
        finally:
            browser.close()


def draw(page: sync_api.Page, strokes: list[list[tuple[float, float]]]) -> None:
    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None

    def at(point: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))  # a press without a prior move lands at (0, 0)
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(point), steps=20)
        page.mouse.up()


def predicted_digit(page: sync_api.Page) -> sync_api.Locator:
    return page.locator(".predicted-digit")


def clear_canvas(page: sync_api.Page) -> None:
    page.locator("canvas.upper-canvas").hover()  # the toolbar only shows on hover
    page.get_by_role("button", name="Reset canvas & history").click()
    expect(page.get_by_text("Draw a digit on the black square")).to_be_visible()


def test_drawn_digits_are_read_by_the_real_api(page: sync_api.Page, artifacts: Path) -> None:
    # The sidebar asked the real /health.
    expect(page.get_by_text("Ready")).to_be_visible()
    expect(page.get_by_text("Test accuracy")).to_be_visible()

    for name, strokes, digit in (("one", ONE, "1"), ("seven", SEVEN, "7")):
        draw(page, strokes)
        # The page says so once the drawing reached Python; clicking earlier races the rerun.
        expect(page.get_by_text("Press Predict to read your drawing")).to_be_visible()
        page.get_by_role("button", name="Predict", exact=False).first.click()
        expect(predicted_digit(page)).to_have_text(digit)
        expect(page.get_by_text("What the model saw")).to_be_visible()
        expect(page.get_by_text("Probability of each digit")).to_be_visible()
        page.mouse.move(1260, 880)  # onto empty page, so the screenshot shows no hover effects
        page.screenshot(path=str(artifacts / f"ui-{name}.png"))
        clear_canvas(page)
        expect(predicted_digit(page)).to_have_count(0)

    # Keep the committed README screenshot as it is unless asked to refresh it (or it is missing),
    # so running the suite does not leave the working tree dirty.
    if os.environ.get("UPDATE_UI_SCREENSHOT") or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(artifacts / "ui-seven.png", SCREENSHOT)


def test_live_mode_predicts_on_stroke_end(page: sync_api.Page, artifacts: Path) -> None:
    page.get_by_text("Predict as I draw").click()
    draw(page, ONE)
    # No Predict click: the stroke's mouse-up alone reaches the API.
    expect(predicted_digit(page)).to_have_text("1")
    page.screenshot(path=str(artifacts / "ui-live.png"))
