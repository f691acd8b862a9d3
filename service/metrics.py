"""Prometheus metrics: HTTP traffic, predictions, the model's time, batch sizes, the queue, the
served model version and the corrections people send (by label and by what the model said, so live
accuracy can be graphed: sum of feedback_total where label = predicted, over the digit labels)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

if TYPE_CHECKING:
    from service.inference.batcher import DynamicBatcher

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the output and nobody graphs them
REGISTRY = CollectorRegistry()
CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
REQUEST_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
PREDICTIONS = Counter("predictions_total", "Predicted digits", ["digit"], registry=REGISTRY)
VERDICTS = Counter("verdicts_total", "Answers by verdict", ["verdict"], registry=REGISTRY)
INFERENCE_SECONDS = Histogram(
    "model_inference_seconds",
    "Time of one batched forward pass",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "batch_size",
    "Images per forward pass",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "queue_wait_seconds",
    "Time the oldest image of a batch waited",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("queue_depth", "Images waiting for the model", registry=REGISTRY)
INFLIGHT_BYTES = Gauge(
    "request_bytes_in_flight",
    "Request-body bytes being read, decoded and predicted (admission control's charge)",
    registry=REGISTRY,
)
MODEL_LOADED = Gauge("model_loaded", "1 when the model is loaded and serving", registry=REGISTRY)
MODEL_VERSION = Gauge("model_version", "The model version this process serves", registry=REGISTRY)
FEEDBACK = Counter(
    "feedback_total",
    "Corrections stored, by the right answer (0-9, not_a_digit) and the model's digit",
    ["label", "predicted"],
    registry=REGISTRY,
)
FEEDBACK_UNDONE = Counter(
    "feedback_undone_total", "Corrections deleted again (undo)", registry=REGISTRY
)

_DIGITS = [PREDICTIONS.labels(digit=str(d)) for d in range(10)]


def observe_batch(images: int, inference_seconds: float, waited_seconds: float) -> None:
    BATCH_SIZE.observe(images)
    INFERENCE_SECONDS.observe(inference_seconds)
    QUEUE_WAIT.observe(waited_seconds)


def count_predictions(digits: list[int], verdicts: Sequence[str] = ()) -> None:
    for digit in digits:
        _DIGITS[digit].inc()
    for verdict in verdicts:
        VERDICTS.labels(verdict).inc()


def bind_runtime(batcher: DynamicBatcher) -> None:
    # Read the depth when scraped, not on every request.
    QUEUE_DEPTH.set_function(lambda: batcher.queued_images)


def count_feedback(label: str, predicted: int) -> None:
    FEEDBACK.labels(label=label, predicted=str(predicted)).inc()


def bind_admission(in_flight: Callable[[], float]) -> None:
    INFLIGHT_BYTES.set_function(in_flight)


def render() -> bytes:
    return generate_latest(REGISTRY)
