"""Bank calibrations fitted before the label model become loadable again.

The grader now places scores and reads its confidence from a label model (a distribution over the
marks 0-10) instead of two big-error classifiers. A bank calibration stored before keeps its own ranking
model and adopts the shipped label model, pull and review thresholds
(`grader.scoring.calibration.adopt_label_model`); without this a published one would fail to load and
its bank could not be graded. `grader calibrate --bank NAME --from-reviews` (or a labelled file) refits
it whole. Also indexes `bank_version_questions.question_id`: the pin lookup of every submission reads
it by question alone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from grader.questions.calibrations import calibration_digest
from grader.scoring.calibration import adopt_label_model, load_calibration

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHIPPED = Path(__file__).resolve().parents[2] / "reference_answers" / "calibration.json"

calibration_versions = sa.table(
    "calibration_versions",
    sa.column("id", sa.Integer),
    sa.column("digest", sa.String),
    sa.column("params", sa.JSON),
)


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(calibration_versions.c.id, calibration_versions.c.params)).all()
    stale = [(row.id, row.params) for row in rows if "label_coef" not in row.params]
    if stale:
        shipped = load_calibration(SHIPPED)
        for row_id, params in stale:
            adopted = adopt_label_model(params, shipped)
            connection.execute(
                calibration_versions.update()
                .where(calibration_versions.c.id == row_id)
                .values(params=adopted.model_dump(mode="json"), digest=calibration_digest(adopted))
            )
    op.create_index(
        op.f("ix_bank_version_questions_question_id"), "bank_version_questions", ["question_id"], unique=False
    )


def downgrade() -> None:
    # The adopted calibrations stay as they are: the classifiers they replaced are gone.
    op.drop_index(op.f("ix_bank_version_questions_question_id"), table_name="bank_version_questions")
