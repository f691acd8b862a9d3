"""The HTTP contract of POST /read, and /predict's verdict several_digits."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from devtools.drawn_digits import draw, encode, to_png
from devtools.numbers import ComposedNumber, compose, mnist_source
from service.api.factory import create_app
from service.api.schemas import EXAMPLE_NUMBER, READ_EXAMPLE, SEVERAL_DIGITS_HINT
from service.imaging.normalise import find_ink, to_gray
from service.imaging.segment import single_digit
from service.inference.reading import (
    CLEAR_DIGIT,
    SURELY_ONE_DIGIT,
    clearly_several_digits,
    holds_several_digits,
    worth_a_second_look,
)
from service.inference.verdict import Readings, Verdict
from tests.conftest import make_settings
from tests.test_api import metric
from training.synth.nondigits import non_digits

PNG = {"Content-Type": "image/png"}


@pytest.fixture(scope="module")
def number(mnist_dir) -> ComposedNumber:
    """'7210' (MNIST's first four test digits) drawn with gaps, dark ink on white paper."""
    source = mnist_source(mnist_dir)
    drawn = compose(source, [0, 1, 2, 3], "gaps", "rgb-black-on-white", np.random.default_rng(1))
    assert drawn.text == "7210"
    return drawn


def read(client: TestClient, body: bytes, query: str = "") -> dict:
    response = client.post(f"/read{query}", content=body, headers=PNG)
    assert response.status_code == 200, response.text
    return response.json()


def test_read_answers_the_digits_left_to_right_with_their_boxes(
    client: TestClient, number: ComposedNumber
) -> None:
    body = read(client, number.png)
    assert body["text"] == "7210"
    assert body["model"] == "mnist-cnn" and body["device"] == "cpu" and body["latency_ms"] > 0
    assert [d["digit"] for d in body["digits"]] == [7, 2, 1, 0]
    for piece, truth in zip(body["digits"], number.boxes, strict=True):
        assert piece["verdict"] == "digit"
        assert len(piece["probabilities"]) == 10
        assert sum(piece["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        assert piece["confidence"] == pytest.approx(max(piece["probabilities"]))
        box = piece["box"]
        # The box is the digit's ink in the image's own pixels (a pixel or two of anti-aliasing).
        for key in ("x", "y", "width", "height"):
            assert abs(box[key] - getattr(truth, key)) <= 3, (key, box, truth)
        assert "input_image" not in piece


def test_read_takes_every_form_predict_takes(client: TestClient, number: ComposedNumber) -> None:
    gray = np.asarray(Image.open(io.BytesIO(number.png)).convert("L"))
    encoded = base64.b64encode(number.png).decode()
    answers = [
        client.post("/read", files={"file": ("n.png", number.png, "image/png")}),
        client.post("/read", json={"image": encoded}),
        client.post("/read", json={"image": f"data:image/png;base64,{encoded}"}),
        client.post("/read", json={"pixels": (255 - gray).tolist()}),
        client.post(
            "/read",
            content=encode(Image.open(io.BytesIO(number.png)), "JPEG"),
            headers={"Content-Type": "image/jpeg"},
        ),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        assert response.json()["text"] == "7210"


def test_include_input_adds_each_pieces_28x28_input(
    client: TestClient, number: ComposedNumber
) -> None:
    body = read(client, number.png, "?include_input=true")
    for piece in body["digits"]:
        image = Image.open(io.BytesIO(base64.b64decode(piece["input_image"])))
        assert image.size == (28, 28) and image.mode == "L"
        pixels = np.asarray(image)
        assert pixels.max() == 255 and pixels[0].max() == 0  # a digit, white on black, centred


def test_boxes_are_in_the_pixels_of_the_image_as_the_client_sees_it(
    client: TestClient, number: ComposedNumber
) -> None:
    """A JPEG stored sideways with an EXIF orientation (as phones do) reads as shown upright."""
    upright = Image.open(io.BytesIO(number.png)).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the camera wrote
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    body = client.post(
        "/read",
        content=encode(stored, "JPEG", exif=exif, quality=95),
        headers={"Content-Type": "image/jpeg"},
    ).json()
    assert body["text"] == "7210"
    first, truth = body["digits"][0]["box"], number.boxes[0]
    assert abs(first["x"] - truth.x) <= 4 and abs(first["y"] - truth.y) <= 4


def test_one_read_is_one_job_for_the_batcher(client: TestClient, number: ComposedNumber) -> None:
    before = client.get("/metrics").text
    body = read(client, number.png)
    after = client.get("/metrics").text
    # All the candidate pieces, cut candidates included, went through one forward pass.
    assert metric(after, "batch_size_count") == metric(before, "batch_size_count") + 1
    assert metric(after, "batch_size_sum") - metric(before, "batch_size_sum") >= len(body["digits"])
    for digit in "7210":
        assert metric(after, "predictions_total", digit=digit) >= metric(
            before, "predictions_total", digit=digit
        ) + "7210".count(digit)


def test_read_refuses_what_it_cannot_read(client: TestClient) -> None:
    blank = client.post("/read", content=to_png(np.full((100, 300), 255, np.uint8)), headers=PNG)
    assert blank.status_code == 422 and "no digit found" in blank.json()["detail"]
    bars = np.zeros((60, 40 * 33), np.uint8)
    for index in range(33):
        bars[10:50, index * 40 + 18 : index * 40 + 23] = 255
    many = client.post("/read", content=to_png(bars), headers=PNG)
    assert many.status_code == 413
    assert many.json()["detail"] == (
        "the image holds 33 separate marks, over the limit of 32 digits; send at most that "
        "many digits in one image"
    )
    wrong = client.post("/read", content=b"hello", headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415 and "multipart/form-data" in wrong.json()["detail"]
    broken = client.post("/read", content=b"\x89PNG\r\n\x1a\nnot really", headers=PNG)
    assert broken.status_code == 422


def test_openapi_documents_read_with_an_example_that_reads_as_documented(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    read_spec = spec["paths"]["/read"]["post"]
    assert {"multipart/form-data", "application/json", "image/png"} <= read_spec["requestBody"][
        "content"
    ].keys()
    assert {"200", "413", "415", "422", "503"} <= read_spec["responses"].keys()
    example = read_spec["responses"]["200"]["content"]["application/json"]["example"]
    assert example == READ_EXAMPLE
    body = client.post("/read", json={"image": EXAMPLE_NUMBER}).json()
    assert body["text"] == READ_EXAMPLE["text"] == "2024"
    assert [d["box"] for d in body["digits"]] == [d["box"] for d in READ_EXAMPLE["digits"]]  # type: ignore[index]
    schemas = spec["components"]["schemas"]
    verdicts = schemas["Prediction"]["properties"]["verdict"]["enum"]
    assert set(verdicts) == {"digit", "unsure", "not_a_digit", "several_digits"}
    piece_verdicts = schemas["ReadDigit"]["properties"]["verdict"]["enum"]
    assert set(piece_verdicts) == {"digit", "unsure", "not_a_digit"}


def test_predict_says_several_digits_with_a_hint(
    client: TestClient, number: ComposedNumber, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    images, _ = mnist_test
    seven = to_png(draw(images[0], np.random.default_rng(0), "rgba-transparent"))
    one = client.post("/predict", content=seven, headers=PNG).json()
    assert one["verdict"] == "digit" and "hint" not in one and one["digit"] == 7
    several = client.post("/predict", content=number.png, headers=PNG).json()
    assert several["verdict"] == "several_digits"
    assert several["hint"] == SEVERAL_DIGITS_HINT == "several digits: POST /read reads them"
    assert 0 <= several["digit"] <= 9 and len(several["probabilities"]) == 10  # still a guess
    batch = client.post(
        "/predict/batch",
        files=[
            ("files", ("a.png", seven, "image/png")),
            ("files", ("b.png", number.png, "image/png")),
        ],
    ).json()["predictions"]
    assert [p["verdict"] for p in batch] == ["digit", "several_digits"]
    assert "hint" not in batch[0] and batch[1]["hint"] == SEVERAL_DIGITS_HINT


def test_digits_pressed_together_get_several_digits_from_a_second_look(
    client: TestClient, mnist_dir
) -> None:
    """A pair pressed so close that its ink is no wider than one digit passes the geometric
    check; it reads as no digit, so /predict reads its pieces, which read clearly as digits."""
    source = mnist_source(mnist_dir)
    pair = compose(source, [5, 6], "touching", "rgb-black-on-white", np.random.default_rng(5))
    assert pair.text == "14"
    _, looks_several = single_digit(find_ink(to_gray(pair.png, 10**8)), check_several=True)
    assert not looks_several
    body = client.post("/predict", content=pair.png, headers=PNG).json()
    assert body["verdict"] == "several_digits" and body["hint"] == SEVERAL_DIGITS_HINT


def test_a_digit_the_detector_is_sure_of_gets_no_second_look() -> None:
    """Doubtful images are looked at again as possible pressed pairs, unless the detector finds
    them surely one digit (then the classifier merely hesitates); without a detector, they are."""
    assert worth_a_second_look("unsure", SURELY_ONE_DIGIT + 0.1)
    assert worth_a_second_look("not_a_digit", 5.0)
    assert worth_a_second_look("unsure", float("nan"))
    assert not worth_a_second_look("unsure", SURELY_ONE_DIGIT)
    assert not worth_a_second_look("digit", 5.0)


def _readings(verdicts: list[Verdict]) -> Readings:
    count = len(verdicts)
    probabilities = np.full((count, 10), 0.1, dtype=np.float32)
    return Readings(probabilities, [1] * count, [0.9] * count, verdicts, [[] for _ in verdicts])


def test_the_rules_for_several_digits() -> None:
    """Wide ink: no piece not a digit, and when a mark was cut, at most half the pieces unsure.
    Ink no wider than a digit: every piece a digit the detector finds clearly one."""
    assert holds_several_digits(_readings(["digit", "unsure"]), marks=2)
    assert holds_several_digits(_readings(["unsure", "unsure"]), marks=2)  # two marks apart
    assert not holds_several_digits(_readings(["unsure", "unsure"]), marks=1)  # one cut in two
    assert holds_several_digits(_readings(["digit", "unsure"]), marks=1)
    assert not holds_several_digits(_readings(["digit", "not_a_digit"]), marks=2)
    assert not holds_several_digits(_readings(["digit"]), marks=1)
    outputs = np.zeros((2, 11), dtype=np.float32)
    outputs[:, 10] = CLEAR_DIGIT
    assert clearly_several_digits(_readings(["digit", "digit"]), outputs)
    assert not clearly_several_digits(_readings(["digit", "unsure"]), outputs)
    outputs[1, 10] = CLEAR_DIGIT + 0.5  # a digit, but not clearly one
    assert not clearly_several_digits(_readings(["digit", "digit"]), outputs)


def test_a_full_batch_of_numbers_is_answered_not_refused(number: ComposedNumber) -> None:
    """The pieces /predict/batch reads to check for several digits go to the batcher in jobs of a
    quarter of MAX_QUEUE at most, one after another, so a batch of numbers never makes the queue
    refuse the request (503), and every image in it is checked: its verdict is the one /predict
    gives it alone (a budget once left the later images of a batch unchecked)."""
    count = 64  # 64 images plus all their pieces (4+ each) would not fit a queue of 128
    settings = make_settings(max_queue=128, max_images_per_request=count)
    with TestClient(create_app(settings)) as small_queue:
        response = small_queue.post(
            "/predict/batch",
            files=[("files", (f"{i}.png", number.png, "image/png")) for i in range(count)],
        )
    assert response.status_code == 200, response.text
    verdicts = [p["verdict"] for p in response.json()["predictions"]]
    assert verdicts == ["several_digits"] * count


@pytest.fixture(scope="module")
def unchecked() -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(several_digits_check=False))) as test_client:
        yield test_client


def test_the_several_digits_check_can_be_switched_off(
    unchecked: TestClient, number: ComposedNumber
) -> None:
    body = unchecked.post("/predict", content=number.png, headers=PNG).json()
    # Read as one digit, judged as any other image (squeezed into 28×28, "7210" is no digit).
    assert body["verdict"] != "several_digits" and "hint" not in body
    assert unchecked.post("/read", content=number.png, headers=PNG).json()["text"] == "7210"


def _line_of(pictures: list[np.ndarray], height: int = 60, gap: int = 30) -> bytes:
    """White-on-black pictures side by side at one height, as a PNG."""
    fitted = []
    for picture in pictures:
        rows, cols = np.nonzero(picture > 40)
        crop = picture[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        width = max(1, round(crop.shape[1] * height / crop.shape[0]))
        fitted.append(np.asarray(Image.fromarray(crop).resize((width, height))))
    canvas = np.zeros((height + 40, sum(p.shape[1] + gap for p in fitted) + gap), np.uint8)
    left = gap
    for picture in fitted:
        canvas[20 : 20 + height, left : left + picture.shape[1]] = picture
        left += picture.shape[1] + gap
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_piece_that_is_no_digit_is_written_as_a_question_mark(
    client: TestClient, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    """The pieces of /read are judged by the verdict machinery of /predict: a drawn shape among
    digits is not_a_digit, written "?"; and /predict does not call the image several digits
    (its pieces are not all digits) but gives the image's own verdict."""
    images, _ = mnist_test
    refused = [
        shape
        for shape in non_digits("shapes", "held_out", 20, seed=3)
        if client.post("/predict", content=to_png(shape), headers=PNG).json()["verdict"]
        == "not_a_digit"
    ]
    assert len(refused) >= 10
    body = read(client, _line_of([images[0], images[1], refused[0], images[2]]))
    assert body["text"] == "72?1"
    assert [d["verdict"] for d in body["digits"]][2] == "not_a_digit"
    assert all(d["verdict"] != "not_a_digit" for i, d in enumerate(body["digits"]) if i != 2)
    answered = client.post(
        "/predict", content=_line_of([images[0], refused[0]]), headers=PNG
    ).json()
    assert answered["verdict"] != "several_digits" and "hint" not in answered
    # The same two digits without the shape are several digits.
    pair = client.post("/predict", content=_line_of([images[0], images[1]]), headers=PNG).json()
    assert pair["verdict"] == "several_digits" and pair["hint"] == SEVERAL_DIGITS_HINT
