"""The feedback table, defined once: the store queries it and the migrations must match it
(tests/test_feedback_store.py compares the two)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
)

NOT_A_DIGIT: Final = "not_a_digit"
LABELS = (*(str(digit) for digit in range(10)), NOT_A_DIGIT)

metadata = MetaData()

feedback = Table(
    "feedback",
    metadata,
    # SQLite only auto-increments an INTEGER primary key; PostgreSQL gets a 64-bit identity.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    # "0".."9", or "not_a_digit" for a drawing that is no digit at all.
    Column("label", String(16), nullable=False),
    # What the served model answered for this very image (the server ran it; clients are not
    # trusted to say), the verdict on it, and which model version that was.
    Column("predicted", SmallInteger, nullable=False),
    Column("probabilities", JSON, nullable=False),
    Column("verdict", String(32), nullable=False),
    Column("model_version", Integer, nullable=False),
    # The 28×28 digit the model read, 784 bytes (0-255, row by row): what fine-tuning learns from.
    Column("input_pixels", LargeBinary, nullable=False),
    # The image file as the client sent it (None when FEEDBACK_KEEP_ORIGINAL=false, or for a
    # pixel grid, whose normalised form is the input above).
    Column("original", LargeBinary, nullable=True),
    CheckConstraint(
        "label IN (" + ", ".join(f"'{label}'" for label in LABELS) + ")", name="feedback_label"
    ),
    CheckConstraint("predicted BETWEEN 0 AND 9", name="feedback_predicted"),
)
