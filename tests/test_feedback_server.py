"""Nothing lost, nothing let in, on real servers: `python -m service` migrates once before its
workers start, 500 concurrent corrections are each stored once, and every correction answered 201
survives a kill -9 of the server. Each against SQLite and a throwaway PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from devtools.drawn_digits import draw, to_png
from devtools.servers import LiveServer, free_port, start_api, wait_for
from feedback.migrate import downgrade, upgrade
from feedback.tables import LABELS, feedback, metadata

PNG = {"Content-Type": "image/png"}


def serve(database_url: str, workers: int, **env: str):  # type: ignore[no-untyped-def]
    port = free_port()
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    return start_api({"DATABASE_URL": database_url, **env}, command=command, port=port)


@pytest.fixture(scope="module")
def digit(mnist_test: tuple[np.ndarray, np.ndarray]) -> bytes:
    images, _ = mnist_test
    return to_png(draw(images[0], np.random.default_rng(1), "rgb-black-on-white"))


def stored(database_url: str) -> dict[int, str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(sa.select(feedback.c.id, feedback.c.label)).all())
    finally:
        engine.dispose()


def log_lines(server: LiveServer) -> list[dict[str, object]]:
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database no migration has touched yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new' / 'feedback.db'}"
    return request.getfixturevalue("postgres").create_database(f"fresh_{os.getpid()}_{free_port()}")


def test_python_m_service_migrates_once_before_its_workers_start(
    fresh_database_url: str, digit: bytes
) -> None:
    def read_messages() -> list[str]:
        return [str(line["message"]) for line in log_lines(server)]

    with serve(fresh_database_url, workers=2) as server:
        answer = httpx.post(f"{server.url}/feedback?label=7", content=digit, headers=PNG)
        assert answer.status_code == 201, answer.text
        # /health answers once one worker is up; wait for the other one's log line.
        assert wait_for(lambda: len(loaded_lines(read_messages())) == 2, timeout=120)
        messages = read_messages()
    upgrades = [i for i, m in enumerate(messages) if m.startswith("Running upgrade")]
    done = [i for i, m in enumerate(messages) if m.endswith("is up to date")]
    loaded = loaded_lines(messages)
    assert len(upgrades) == 1 and len(done) == 1, messages  # once, not once per worker
    assert min(loaded) > done[0], messages  # both workers started after it


def loaded_lines(messages: list[str]) -> list[int]:
    return [i for i, m in enumerate(messages) if m.startswith("model version 1 loaded")]


def test_uvicorn_alone_does_not_migrate_and_feedback_says_what_to_run(
    fresh_database_url: str, digit: bytes
) -> None:
    port = free_port()
    uvicorn = [sys.executable, "-m", "uvicorn", "service.app:app", "--port", str(port)]
    with start_api({"DATABASE_URL": fresh_database_url}, command=uvicorn, port=port) as server:
        answer = httpx.post(f"{server.url}/feedback?label=7", content=digit, headers=PNG)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert "run `python -m service migrate`" in answer.json()["detail"]
        assert httpx.post(f"{server.url}/predict", content=digit, headers=PNG).status_code == 200
        migrate = [sys.executable, "-m", "service", "migrate"]
        env = {**os.environ, "DATABASE_URL": fresh_database_url}
        for _ in range(2):  # and a second run finds nothing to do
            result = subprocess.run(migrate, env=env, capture_output=True, timeout=120)
            assert result.returncode == 0, result.stderr
        answer = httpx.post(f"{server.url}/feedback?label=7", content=digit, headers=PNG)
        assert answer.status_code == 201


def test_the_migrations_build_exactly_the_table_the_code_queries(fresh_database_url: str) -> None:
    upgrade(fresh_database_url)
    engine = sa.create_engine(fresh_database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
            assert differences == []
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == "0001"
        downgrade(fresh_database_url, "base")
        assert not sa.inspect(engine).has_table("feedback")
        upgrade(fresh_database_url)
        assert sa.inspect(engine).has_table("feedback")
    finally:
        engine.dispose()


async def _post_all(url: str, digit: bytes, labels: list[str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(labels))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        return await asyncio.gather(
            *(
                client.post(f"/feedback?label={label}", content=digit, headers=PNG)
                for label in labels
            )
        )


def test_500_concurrent_corrections_are_each_stored_once(database_url: str, digit: bytes) -> None:
    labels = [LABELS[i % len(LABELS)] for i in range(500)]
    with serve(database_url, workers=2) as server:
        answers = asyncio.run(_post_all(server.url, digit, labels))
        stats = httpx.get(f"{server.url}/feedback/stats").json()
    assert [answer.status_code for answer in answers] == [201] * 500, {
        a.status_code: a.text for a in answers if a.status_code != 201
    }
    returned = {answer.json()["id"]: label for answer, label in zip(answers, labels, strict=True)}
    assert len(returned) == 500  # 500 distinct ids
    assert stored(database_url) == returned  # each row once, with the label posted for it
    assert stats["total"] == 500 and stats["by_label"]["not_a_digit"] == labels.count("not_a_digit")


async def _post_until_killed(url: str, digit: bytes, process: subprocess.Popen[bytes]) -> list[int]:
    """Post from 16 clients until the server dies; return the ids answered 201."""
    acknowledged: list[int] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        while True:
            try:
                answer = await client.post("/feedback?label=5", content=digit, headers=PNG)
            except httpx.HTTPError:
                return  # the server is gone
            if answer.status_code == 201:
                acknowledged.append(answer.json()["id"])
                if len(acknowledged) == 60:
                    # kill -9 while 15 other requests are in flight
                    process.kill()

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(16)))
    return acknowledged


def test_every_correction_answered_201_survives_kill_9(database_url: str, digit: bytes) -> None:
    with serve(database_url, workers=1) as server:
        acknowledged = asyncio.run(_post_until_killed(server.url, digit, server.process))
        server.process.wait(timeout=30)
        assert server.process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 60
    rows = stored(database_url)
    assert set(acknowledged) <= set(rows), set(acknowledged) - set(rows)
    # Rows the server committed but had no time to acknowledge may be there too; no more.
    assert len(rows) <= len(acknowledged) + 16
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
