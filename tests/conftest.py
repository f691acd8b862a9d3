"""Shared fixtures: MNIST from ../shared, the committed model, the app in-process and a real uvicorn."""

from __future__ import annotations

import gzip
import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from devtools.postgres import PostgresServer, find_binaries, postgres_server
from devtools.servers import LiveServer, start_api
from service.api.factory import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MODEL_PATH = ROOT / "models" / "mnist_cnn_model.pth"  # the served model
# The MNIST-only model the served one was fine-tuned from: where the fine-tune tests start.
BASE_MODEL_PATH = ROOT / "models" / "base" / "mnist_cnn_model.pth"
ARTIFACTS = ROOT / "test-artifacts"
MNIST_DIR = Path(os.environ.get("MNIST_DATA_DIR", ROOT.parent / "shared" / "data" / "mnist"))
# Whatever the service writes (the feedback database, model versions) goes to a folder of this test
# session, never to ./data, where a developer's own corrections and versions live. Every app and
# server the tests start inherits it, unless a test gives its own.
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="mnist-test-data-")
os.environ.pop("DATABASE_URL", None)
os.environ.pop("MODEL_DIR", None)


@pytest.fixture(scope="session", autouse=True)
def migrated_default_database() -> str:
    """The session's default feedback database, migrated as `python -m service` would."""
    from feedback.migrate import upgrade

    url = Settings(_env_file=None).feedback_database_url
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST gzip files absent from {MNIST_DIR} (set MNIST_DATA_DIR)")
    return MNIST_DIR


@pytest.fixture(scope="session")
def mnist_test(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test digits (uint8, white on black) and labels, read straight from the IDX files."""
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz") as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz") as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def make_settings(**overrides: object) -> Settings:
    return Settings(
        _env_file=None, model_path=MODEL_PATH, device="cpu", log_requests=False, **overrides
    )


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    """The real app with the committed model, in-process (one per test session)."""
    with TestClient(create_app(make_settings())) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def api_server() -> Iterator[LiveServer]:
    """A real uvicorn process on a free loopback port, serving the committed model."""
    with start_api() as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for the session (initdb + pg_ctl, a free loopback port)."""
    if find_binaries() is None:
        pytest.skip(
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
            "apt-get install postgresql (.ci/run does)"
        )
    with postgres_server() as server:
        yield server


_DATABASES = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated feedback database of each kind: the same test runs against both."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'feedback.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"feedback_{next(_DATABASES)}")
    from feedback.migrate import upgrade

    upgrade(url)
    return url
