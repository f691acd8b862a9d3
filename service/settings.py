"""Typed settings, read once from environment variables (and an optional `.env` file)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = PROJECT_ROOT / "models" / "mnist_cnn_model.pth"
DEFAULT_DETECTOR_PATH = PROJECT_ROOT / "models" / "not_a_digit.pth"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Where and how the model runs. MODEL_PATH is version 1 (the committed model) unless MODEL_DIR
    # holds a folder `1/`; MODEL_DIR's numbered folders are the versions `python -m training.publish`
    # added, and its `current` file names the one served (see training/versions.py).
    model_path: Path = DEFAULT_MODEL_PATH
    model_dir: Path | None = Field(None, description="model versions; default <DATA_DIR>/models")
    model_poll_interval: float = Field(
        1.0, gt=0, le=60, description="seconds between checks of the served version's file"
    )
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    torch_threads: int = Field(1, ge=1, description="intra-op threads for the forward pass")
    onnxruntime: bool = Field(
        True,
        description="on the CPU, run the forward pass in ONNX Runtime (false: in torch)",
    )
    detector_path: Path = Field(
        DEFAULT_DETECTOR_PATH, description="the not-a-digit detector's weights (.json beside)"
    )
    verdicts: bool = Field(
        True, description="run the not-a-digit detector and answer unsure/not_a_digit"
    )

    # The server.
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        default_factory=lambda: len(os.sched_getaffinity(0)),
        ge=1,
        description="worker processes, each with its own model (default: one per core)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_requests: bool = Field(True, description="one JSON log line per request")

    # Dynamic batching.
    max_batch_size: int = Field(64, ge=1, description="most images in one forward pass")
    max_batch_wait_ms: float = Field(0.0, ge=0, description="wait this long to fill a batch")
    max_queue: int = Field(512, ge=1, description="images waiting before requests get 503")
    preprocess_threads: int = Field(2, ge=1, description="threads decoding and normalising")

    # Limits on what clients send.
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(4096 * 4096, ge=1)
    max_images_per_request: int = Field(64, ge=1, description="images in one /predict/batch call")
    max_read_digits: int = Field(
        32, ge=1, le=128, description="separate marks (digits) one /read image may hold"
    )
    max_inflight_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="request bodies being read, decoded and predicted at once; 503 beyond",
    )

    # Limits on the connection, below the request (service/api/transport.py).
    max_header_bytes: int = Field(
        64 * 1024, ge=1024, description="request line and headers together; 431 beyond"
    )
    max_header_line_bytes: int = Field(
        16 * 1024, ge=256, description="the request line or one header; 431 beyond"
    )
    max_headers: int = Field(100, ge=8, description="header lines in one request; 431 beyond")
    header_timeout_s: float = Field(
        10.0, gt=0, description="to send the request line and all headers; 408 after"
    )
    body_timeout_s: float = Field(
        10.0, gt=0, description="grace for the body, extended by BODY_MIN_RATE; 408 after"
    )
    body_min_rate: int = Field(
        8 * 1024, ge=1, description="bytes a second a body must keep up, after the grace"
    )
    forwarded_allow_ips: str = Field(
        "",
        description="proxies whose X-Forwarded-For/-Proto are trusted (comma-separated IPs or "
        "networks, '*' for any); empty: none, the connection's own address counts",
    )

    # What the service keeps: corrections (POST /feedback) and published model versions.
    data_dir: Path = Field(Path("data"), description="writable; created on first use")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<DATA_DIR>/feedback.db"
    )
    database_timeout: float = Field(
        5.0, gt=0, le=300, description="seconds to wait for the database before answering 503"
    )
    feedback_keep_original: bool = Field(True, description="store the image file as sent, too")

    # Reading numbers.
    several_digits_check: bool = Field(
        True,
        description="/predict and /predict/batch say verdict several_digits when an image holds "
        "more than one digit (a geometric check on every image; those it flags are read as a "
        "number, in the same forward pass; an image it passes that reads as no digit is read as "
        "a number too, in a second pass; off saves their cost)",
    )

    # Access.
    api_key: SecretStr | None = Field(None, description="when set, routes need X-API-Key")
    admin_api_key: SecretStr | None = Field(
        None, description="when set, POST /admin/reload exists and needs X-Admin-Key"
    )
    metrics_public: bool = Field(True, description="serve /metrics without the API key")
    rate_limit: str | None = Field(None, description="per client IP, e.g. '100/second'")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # CORS_ORIGINS="https://a.example,https://b.example" reads better in an env file than JSON.
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("database_url", "admin_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose passes `${DATABASE_URL:-}` as an empty string when .env leaves it blank.
        return None if value == "" else value

    @property
    def feedback_database_url(self) -> str:
        """DATABASE_URL, or the embedded default: a SQLite file in DATA_DIR."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'feedback.db').resolve()}"

    @property
    def model_versions_dir(self) -> Path:
        return self.model_dir or self.data_dir / "models"

    @model_validator(mode="after")
    def _batch_fits_the_queue(self) -> Settings:
        # A request's images are queued together; a batch larger than the whole queue would get
        # "503, retry" forever. Refuse the configuration instead.
        if self.max_images_per_request > self.max_queue:
            raise ValueError(
                f"MAX_IMAGES_PER_REQUEST ({self.max_images_per_request}) is over MAX_QUEUE "
                f"({self.max_queue}): such a batch could never be queued; lower the first or "
                "raise the second"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
