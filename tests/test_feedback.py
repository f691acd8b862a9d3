"""POST /feedback, DELETE /feedback/{id}, GET /feedback/stats: the contract, what is stored, the
limits and the failures, each against SQLite and against a throwaway PostgreSQL server.

The app runs in-process with the committed model; the rows are read back straight from the
database with SQLAlchemy, not through the API, so the tests see what was really committed.
"""

from __future__ import annotations

import base64
import io
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

from devtools.drawn_digits import draw, to_png
from feedback.tables import feedback
from tests.conftest import make_settings

FIELDS = {"id", "label", "predicted", "verdict", "model_version"}
COLUMNS = {
    "id",
    "created_at",
    "label",
    "predicted",
    "probabilities",
    "verdict",
    "model_version",
    "input_pixels",
    "original",
}
PYTHON_WORDS = ("int", "str", "bool", "float", "NoneType", "list", "dict", "Error")


@pytest.fixture(scope="module")
def seven(mnist_test: tuple[np.ndarray, np.ndarray]) -> bytes:
    images, labels = mnist_test
    assert labels[0] == 7
    return to_png(draw(images[0], np.random.default_rng(0), "rgba-transparent"))


@pytest.fixture
def app_client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create(database_url)) as client:
        yield client


def create(database_url: str, **overrides: object):  # type: ignore[no-untyped-def]
    from service.api.factory import create_app

    return create_app(make_settings(database_url=database_url, **overrides))


def rows(database_url: str) -> list[sa.Row]:  # type: ignore[type-arg]
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.select(feedback).order_by(feedback.c.id)))
    finally:
        engine.dispose()


def test_each_input_form_is_stored_with_what_the_model_read(
    app_client: TestClient, database_url: str, seven: bytes
) -> None:
    before = datetime.now(UTC)
    answers = [
        app_client.post(
            "/feedback", files={"file": ("d.png", seven, "image/png")}, data={"label": "7"}
        ),
        app_client.post("/feedback", json={"image": base64.b64encode(seven).decode(), "label": 1}),
        app_client.post(
            "/feedback?label=not_a_digit", content=seven, headers={"Content-Type": "image/png"}
        ),
    ]
    bodies = [answer.json() for answer in answers]
    for answer, body in zip(answers, bodies, strict=True):
        assert answer.status_code == 201, answer.text
        assert body.keys() == FIELDS
        assert answer.headers["location"] == f"/feedback/{body['id']}"
        # The server read the image itself: a 7, whatever the label says.
        assert body["predicted"] == 7 and body["verdict"] == "digit"
        assert body["model_version"] == 1
    assert [body["label"] for body in bodies] == [7, 1, "not_a_digit"]
    assert len({body["id"] for body in bodies}) == 3

    stored = rows(database_url)
    assert [row.id for row in stored] == [body["id"] for body in bodies]
    assert [row.label for row in stored] == ["7", "1", "not_a_digit"]
    predicted = app_client.post(
        "/predict?include_input=true", content=seven, headers={"Content-Type": "image/png"}
    ).json()
    # The 28×28 image the model read, as /predict shows it (0-255, row by row).
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(predicted["input_image"]))))
    for row in stored:
        assert (
            row._fields == tuple(c.name for c in feedback.columns) and set(row._fields) == COLUMNS
        )
        assert row.predicted == 7 and row.model_version == 1 and row.verdict == "digit"
        assert row.probabilities == pytest.approx(predicted["probabilities"], abs=1e-6)
        assert row.original == seven
        assert np.frombuffer(row.input_pixels, np.uint8).reshape(28, 28).tolist() == shown.tolist()
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        assert before - timedelta(seconds=1) <= created <= datetime.now(UTC)
        # No client address anywhere in the row (the test client calls itself "testclient").
        assert "testclient" not in repr(tuple(row)) and "127.0.0.1" not in repr(tuple(row))


def test_the_stored_verdict_is_what_predict_answers_for_the_image(
    app_client: TestClient, database_url: str
) -> None:
    """The verdict comes from the verdict machinery of the version that read the image: a drawn
    X is not_a_digit on /predict, and stored so, with /predict's calibrated probabilities."""
    cross = np.zeros((200, 200), np.uint8)
    for i in range(200):
        cross[i, max(0, i - 8) : i + 8] = 255
        cross[i, max(0, 192 - i) : 208 - i] = 255
    png = to_png(cross)
    predicted = app_client.post(
        "/predict", content=png, headers={"Content-Type": "image/png"}
    ).json()
    assert predicted["verdict"] == "not_a_digit"
    answer = app_client.post(
        "/feedback?label=not_a_digit", content=png, headers={"Content-Type": "image/png"}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["verdict"] == predicted["verdict"] and body["predicted"] == predicted["digit"]
    assert body["model_version"] == predicted["model_version"] == 1
    (row,) = rows(database_url)
    assert row.verdict == "not_a_digit" and row.label == "not_a_digit"
    assert row.probabilities == pytest.approx(predicted["probabilities"], abs=1e-6)


def test_a_pixel_grid_is_accepted_and_its_original_is_the_stored_input(
    app_client: TestClient, database_url: str, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    images, _ = mnist_test
    answer = app_client.post("/feedback", json={"pixels": images[0].tolist(), "label": "7"})
    assert answer.status_code == 201, answer.text
    (row,) = rows(database_url)
    assert row.original is None and row.label == "7" and row.predicted == 7


def test_feedback_keep_original_false_keeps_only_the_normalised_input(
    database_url: str, seven: bytes
) -> None:
    with TestClient(create(database_url, feedback_keep_original=False)) as client:
        answer = client.post(
            "/feedback?label=7", content=seven, headers={"Content-Type": "image/png"}
        )
    assert answer.status_code == 201, answer.text
    (row,) = rows(database_url)
    assert row.original is None and len(row.input_pixels) == 28 * 28


@pytest.mark.parametrize(
    ("label", "shown"),
    [(10, "10"), (-1, "-1"), ("ten", '"ten"'), (True, "true"), (4.5, "4.5"), ([4], "[4]")],
)
def test_a_bad_label_is_a_422_that_says_what_to_send(
    app_client: TestClient, database_url: str, seven: bytes, label: object, shown: str
) -> None:
    image = base64.b64encode(seven).decode()
    answer = app_client.post("/feedback", json={"image": image, "label": label})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail == f"'label' must be a digit 0-9 or \"not_a_digit\", not {shown}"
    assert rows(database_url) == []


def test_a_missing_label_or_a_bad_image_is_a_422_and_stores_nothing(
    app_client: TestClient, database_url: str, seven: bytes
) -> None:
    missing = [
        app_client.post("/feedback", files={"file": ("d.png", seven, "image/png")}),
        app_client.post("/feedback", json={"image": base64.b64encode(seven).decode()}),
        app_client.post("/feedback", content=seven, headers={"Content-Type": "image/png"}),
    ]
    for answer in missing:
        assert answer.status_code == 422
        assert answer.json()["detail"].startswith("the right answer is missing: send 'label'")
    blank = to_png(np.zeros((28, 28), np.uint8))
    bad = {
        b"not an image at all": "not an image this service reads",
        blank: "no digit found",
        seven[:40]: "not an image this service reads",
    }
    for data, words in bad.items():
        answer = app_client.post(
            "/feedback?label=3", content=data, headers={"Content-Type": "image/png"}
        )
        assert answer.status_code == 422 and words in answer.json()["detail"], answer.text
    answer = app_client.post(
        "/feedback?label=3", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 415 and "'label'" in answer.json()["detail"]
    for answer in [*missing]:
        assert not any(word in answer.json()["detail"] for word in PYTHON_WORDS)
    assert rows(database_url) == []


def test_undo_deletes_the_row_once_and_unknown_ids_are_404(
    app_client: TestClient, database_url: str, seven: bytes
) -> None:
    ids = [
        app_client.post(
            f"/feedback?label={label}", content=seven, headers={"Content-Type": "image/png"}
        ).json()["id"]
        for label in (7, 1)
    ]
    assert app_client.delete(f"/feedback/{ids[0]}").status_code == 204
    again = app_client.delete(f"/feedback/{ids[0]}")
    assert again.status_code == 404
    assert (
        again.json()["detail"] == f"there is no correction {ids[0]}: it was undone, or never stored"
    )
    assert app_client.delete("/feedback/999999").status_code == 404
    assert app_client.delete("/feedback/abc").status_code == 422
    assert app_client.delete("/feedback/0").status_code == 422
    assert [row.id for row in rows(database_url)] == [ids[1]]


def test_stats_count_by_label_and_say_how_often_the_model_was_right(
    app_client: TestClient, seven: bytes
) -> None:
    empty = app_client.get("/feedback/stats").json()
    assert empty == {
        "total": 0,
        "by_label": {**{str(d): 0 for d in range(10)}, "not_a_digit": 0},
        "model_right": None,
        "since": None,
    }
    started = datetime.now(UTC)
    for label in ("7", "7", "7", "1", "not_a_digit"):
        answer = app_client.post(
            f"/feedback?label={label}", content=seven, headers={"Content-Type": "image/png"}
        )
        assert answer.status_code == 201
    stats = app_client.get("/feedback/stats").json()
    assert stats["total"] == 5
    assert stats["by_label"]["7"] == 3 and stats["by_label"]["1"] == 1
    assert stats["by_label"]["not_a_digit"] == 1 and sum(stats["by_label"].values()) == 5
    assert stats["model_right"] == pytest.approx(3 / 4)  # the model read 7 each time
    since = datetime.fromisoformat(stats["since"])
    assert started - timedelta(seconds=1) <= since <= datetime.now(UTC)


def test_metrics_count_feedback_by_label_and_predicted_digit(
    app_client: TestClient, seven: bytes
) -> None:
    def count(label: str) -> float:
        text = app_client.get("/metrics").text
        line = f'feedback_total{{label="{label}",predicted="7"}} '
        values = [float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)]
        return values[0] if values else 0.0

    before = count("4"), count("not_a_digit")
    for label in ("4", "4", "not_a_digit"):
        app_client.post(
            f"/feedback?label={label}", content=seven, headers={"Content-Type": "image/png"}
        )
    assert (count("4"), count("not_a_digit")) == (before[0] + 2, before[1] + 1)
    assert "feedback_undone_total" in app_client.get("/metrics").text


def test_feedback_is_key_guarded_and_limited_like_predict(database_url: str, seven: bytes) -> None:
    settings = {"api_key": "k3y", "rate_limit": "3/minute", "max_body_bytes": 32_768}
    big = to_png(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8))
    with TestClient(create(database_url, **settings)) as client:
        for method, path in [
            ("POST", "/feedback"),
            ("DELETE", "/feedback/1"),
            ("GET", "/feedback/stats"),
        ]:
            assert client.request(method, path).status_code == 401, path
        key = {"X-API-Key": "k3y", "Content-Type": "image/png"}
        assert client.post("/feedback?label=7", content=big, headers=key).status_code == 413
        assert client.post("/feedback?label=7", content=seven, headers=key).status_code == 201
        statuses = [client.get("/feedback/stats", headers=key).status_code for _ in range(3)]
        assert statuses[-1] == 429
    assert len(rows(database_url)) == 1


def test_a_locked_sqlite_database_is_a_503_and_predict_carries_on(
    tmp_path: object, seven: bytes
) -> None:
    from feedback.migrate import upgrade

    path = f"{tmp_path}/locked.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    blocker = sqlite3.connect(path, isolation_level=None)
    with TestClient(create(url, database_timeout=0.3)) as client:
        blocker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock, too long
        png = {"Content-Type": "image/png"}
        answer = client.post("/feedback?label=7", content=seven, headers=png)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert answer.json()["detail"] == (
            "the feedback database is busy; the correction was not stored, send it again later"
        )
        assert client.post("/predict", content=seven, headers=png).json()["digit"] == 7
        blocker.execute("ROLLBACK")
        assert client.post("/feedback?label=7", content=seven, headers=png).status_code == 201
    blocker.close()
    assert len(rows(url)) == 1


def test_a_postgresql_server_that_is_down_or_locked_is_a_503_and_predict_carries_on(
    postgres,
    seven: bytes,  # type: ignore[no-untyped-def]
) -> None:
    from feedback.migrate import upgrade

    url = postgres.create_database("outage")
    upgrade(url)
    png = {"Content-Type": "image/png"}
    with TestClient(create(url, database_timeout=1.0)) as client:
        assert client.post("/feedback?label=7", content=seven, headers=png).status_code == 201
        # Locked: another session holds the table for longer than the timeout.
        engine = sa.create_engine(url)
        with engine.begin() as locker:
            locker.execute(sa.text("LOCK TABLE feedback IN ACCESS EXCLUSIVE MODE"))
            answer = client.post("/feedback?label=7", content=seven, headers=png)
            assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
            assert "busy" in answer.json()["detail"]
            assert client.post("/predict", content=seven, headers=png).status_code == 200
        engine.dispose()
        # Down: the server stops; predictions go on, corrections are refused until it is back.
        postgres.stop()
        try:
            answer = client.post("/feedback?label=7", content=seven, headers=png)
            assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
            assert answer.json()["detail"].startswith("the feedback database is not answering")
            assert client.post("/predict", content=seven, headers=png).json()["digit"] == 7
        finally:
            postgres.start()
        assert client.post("/feedback?label=7", content=seven, headers=png).status_code == 201
    assert len(rows(url)) == 2


def test_predict_is_not_held_up_while_feedback_waits_for_a_locked_database(
    tmp_path: object, seven: bytes
) -> None:
    """Corrections stuck on a lock wait on the store's own thread, not on the server's: while
    they wait (the lock is held and their timeout is long), predictions are answered."""
    from feedback.migrate import upgrade

    path = f"{tmp_path}/held.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    png = {"Content-Type": "image/png"}
    with TestClient(create(url, database_timeout=120.0)) as client:
        blocker.execute("BEGIN EXCLUSIVE")
        results: list[int] = []

        def post() -> None:
            answer = client.post("/feedback?label=7", content=seven, headers=png)
            results.append(answer.status_code)

        posts = [threading.Thread(target=post) for _ in range(8)]
        for thread in posts:
            thread.start()
        for _ in range(5):
            assert client.post("/predict", content=seven, headers=png).status_code == 200
        assert results == []  # still waiting for the lock
        blocker.execute("ROLLBACK")
        for thread in posts:
            thread.join()
    blocker.close()
    assert results == [201] * 8 and len(rows(url)) == 8
