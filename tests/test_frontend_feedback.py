"""The page's Right / Wrong buttons under an answer, the thanks with Undo, and the sidebar's count
of corrections, under AppTest with the HTTP client and the canvas stubbed (test_frontend_app.py's
FakeService). The real API and a real browser: test_browser.py."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from frontend import client as api
from tests.test_frontend_app import (
    FakeService,
    click_predict,
    has_button,
    install_fake,
    prediction,
    run_app,
    texts,
    upload,
)
from tests.test_frontend_imaging import ONE, SEVEN, canvas_with


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeService:
    return install_fake(monkeypatch)


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def count_shown(at: AppTest) -> str:
    [line] = [m.value for m in at.sidebar.markdown if "Corrections collected" in m.value]
    return line.removeprefix("**Corrections collected**").strip()


def predicted(fake: FakeService, answer: api.Prediction) -> AppTest:
    fake.answer = answer
    fake.strokes = SEVEN
    return click_predict(run_app())


def seven_answer() -> api.Prediction:
    return prediction([0.99 if d == 7 else 0.01 / 9 for d in range(10)])


def test_no_buttons_before_an_answer(fake: FakeService) -> None:
    at = run_app()
    assert not has_button(at, "feedback_right_draw")
    assert count_shown(at) == "0"


def test_wrong_then_a_digit_stores_that_digit_with_the_predicted_image(fake: FakeService) -> None:
    at = predicted(fake, seven_answer())
    assert has_button(at, "feedback_right_draw") and has_button(at, "feedback_wrong_draw")
    assert "kept to improve the model" in texts(at.main.caption)
    assert not has_button(at, "feedback_label_draw_4")  # the digits come with Wrong
    click(at, "feedback_wrong_draw")
    assert not has_button(at, "feedback_right_draw")
    click(at, "feedback_label_draw_4")
    [(image, content_type, label)] = fake.stored.values()
    assert label == 4 and content_type == "image/png"
    assert image == fake.sent[-1][0]  # the very image the answer was for
    assert "Thanks — stored as a 4" in texts(at.main.success)
    assert count_shown(at) == "1"
    assert not has_button(at, "feedback_wrong_draw")

    click(at, "feedback_undo_draw")
    assert fake.stored == {}
    assert count_shown(at) == "0"
    assert "Undone" in texts(at.main.caption)
    assert not texts(at.main.success)
    assert has_button(at, "feedback_right_draw")  # it can be answered again


def test_right_stores_what_was_predicted(fake: FakeService) -> None:
    at = click(predicted(fake, seven_answer()), "feedback_right_draw")
    assert [label for _, _, label in fake.stored.values()] == [7]
    assert "Thanks — stored as a 7" in texts(at.main.success)


def test_right_about_not_a_digit_stores_not_a_digit(fake: FakeService) -> None:
    scribble = prediction([0.5, 0.3] + [0.2 / 8] * 8, verdict="not_a_digit")
    at = click(predicted(fake, scribble), "feedback_right_draw")
    assert [label for _, _, label in fake.stored.values()] == [api.NOT_A_DIGIT]
    assert "Thanks — stored as not a digit" in texts(at.main.success)


def test_an_unsure_answer_asks_which_digit_at_once(fake: FakeService) -> None:
    unsure = prediction([0.0] * 4 + [0.5] + [0.0] * 4 + [0.5], verdict="unsure")
    at = predicted(fake, unsure)
    assert not has_button(at, "feedback_right_draw")
    click(at, "feedback_label_draw_not_a_digit")
    assert [label for _, _, label in fake.stored.values()] == [api.NOT_A_DIGIT]


def test_a_new_answer_starts_afresh(fake: FakeService) -> None:
    at = click(predicted(fake, seven_answer()), "feedback_right_draw")
    assert has_button(at, "feedback_undo_draw")
    click_predict(at)
    assert not has_button(at, "feedback_undo_draw")
    assert has_button(at, "feedback_right_draw")


def test_a_failed_send_is_a_plain_error_and_the_buttons_stay(fake: FakeService) -> None:
    at = click(predicted(fake, seven_answer()), "feedback_wrong_draw")
    fake.feedback_error = api.ApiError("the server is at capacity; retry in a second", 503)
    click(at, "feedback_label_draw_1")
    assert "The server is at capacity" in texts(at.main.error)
    assert not texts(at.main.success)
    fake.feedback_error = None
    click(at, "feedback_label_draw_1")  # pressing again is the retry
    assert "Thanks — stored as a 1" in texts(at.main.success)
    assert not texts(at.main.error)


def test_a_failed_undo_keeps_the_correction_and_says_so(fake: FakeService) -> None:
    at = click(predicted(fake, seven_answer()), "feedback_right_draw")
    fake.feedback_error = api.ApiError("cannot reach the prediction service at x")
    click(at, "feedback_undo_draw")
    assert len(fake.stored) == 1
    assert "Cannot reach the prediction service" in texts(at.main.error)
    assert has_button(at, "feedback_undo_draw")


def test_an_upload_can_be_corrected_too(fake: FakeService) -> None:
    fake.answer = prediction([0.99 if d == 1 else 0.01 / 9 for d in range(10)])
    data = io.BytesIO()
    Image.fromarray(canvas_with(ONE)[..., 3]).save(data, format="PNG")
    at = upload(run_app(), "one.png", data.getvalue(), "image/png")
    click(at, "feedback_wrong_upload")
    click(at, "feedback_label_upload_7")
    [(image, content_type, label)] = fake.stored.values()
    assert (image, content_type, label) == (data.getvalue(), "image/png", 7)
    assert "Thanks — stored as a 7" in texts(at.main.success)


def test_the_count_is_asked_after_a_correction_not_after_every_predict(
    fake: FakeService,
) -> None:
    at = predicted(fake, seven_answer())
    asked = fake.stats_asked
    click_predict(at)
    assert fake.stats_asked == asked  # a Predict changes no count
    click(at, "feedback_right_draw")
    assert fake.stats_asked == asked + 1
    assert count_shown(at) == "1"
