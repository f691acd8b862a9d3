"""The feedback table: corrections people sent, with what the model answered.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LABELS = ", ".join(f"'{label}'" for label in [*map(str, range(10)), "not_a_digit"])


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("predicted", sa.SmallInteger(), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("input_pixels", sa.LargeBinary(), nullable=False),
        sa.Column("original", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint(f"label IN ({LABELS})", name="feedback_label"),
        sa.CheckConstraint("predicted BETWEEN 0 AND 9", name="feedback_predicted"),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_created_at", table_name="feedback")
    op.drop_table("feedback")
