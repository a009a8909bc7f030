"""Bank calibrations fitted before the label model become loadable again.

The grader now places scores and reads its confidence from a label model (a distribution over the
marks 0-10) instead of two big-error classifiers. A bank calibration stored before keeps its own ranking
model and adopts the shipped label model, pull and review thresholds; without this a published one would
fail to load and its bank could not be graded. `grader calibrate --bank NAME --from-reviews` (or a
labelled file) refits it whole. Also indexes `bank_version_questions.question_id`: the pin lookup of every
submission reads it by question alone.

Self-contained: the shipped numbers it adopts are frozen in `0007_label_model.json` beside this file, and
the adoption, the calibration's shape and both digests are copied here as they were written
(`grader.scoring.calibration.adopt_label_model`, `Calibration`, `_digest` and
`grader.questions.calibrations.calibration_digest` on 2026-12-04), so a database migrated later holds what
one migrated then holds, whatever the shipped calibration and the scoring code have become.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 19:00:00
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op
from pydantic import BaseModel, ConfigDict

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FROZEN_SHIPPED = Path(__file__).with_name("0007_label_model.json")
# What calibrations fitted before the label model held instead of it: two big-error classifiers.
BEFORE_LABEL_MODEL = ("lexical_coef", "semantic_coef", "risk_mean", "risk_scale", "risk_coef", "risk_under_coef")


class _Calibration(BaseModel):
    """The shape of a stored calibration as this migration wrote it (fields, defaults, order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    bank: str | None = None
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    level: list[float] = [0.0, 1.0]
    label_coef: list[list[float]]
    decision_pull: float
    review_risk: float
    review_risk_curated: float | None = None
    caps: dict[str, float] = {"non_answer": 0.0}
    fitted_on: str = ""
    fit_command: str = ""
    cv_metrics: dict[str, float] = {}


def _fitted_digest(cal: _Calibration) -> str:
    """The digest a calibration's version carries: of its fitted numbers."""
    fitted = cal.model_dump_json(
        include={
            "features",
            "mean",
            "scale",
            "coef",
            "level",
            "label_coef",
            "decision_pull",
            "review_risk",
            "review_risk_curated",
            "caps",
        }
    )
    return hashlib.sha256(fitted.encode()).hexdigest()[:8]


def _row_digest(cal: _Calibration) -> str:
    """The digest of a stored calibration version (`calibration_versions.digest`): of all its params."""
    canonical = json.dumps(cal.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def adopt_label_model(params: dict[str, Any], shipped: dict[str, Any]) -> _Calibration:
    """The stored calibration's own ranking model (standardisation, coefficients, level, caps) is kept;
    the shipped label model, pull and review thresholds replace the two error classifiers. Its version
    gets a new digest; `fitted_on` says what was adopted."""
    kept = {k: v for k, v in params.items() if k not in BEFORE_LABEL_MODEL}
    adopted = _Calibration.model_validate(
        {
            **kept,
            "label_coef": shipped["label_coef"],
            "decision_pull": shipped["decision_pull"],
            "review_risk": shipped["review_risk"],
            "review_risk_curated": shipped["review_risk_curated"],
            "fitted_on": f"{kept.get('fitted_on', '')}; label model adopted from shipped {shipped['version']}",
        }
    )
    base = adopted.version.rsplit("+", 1)[0] if "+" in adopted.version else adopted.version
    return adopted.model_copy(update={"version": f"{base}+{_fitted_digest(adopted)}"})


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
        shipped: dict[str, Any] = json.loads(FROZEN_SHIPPED.read_text(encoding="utf-8"))
        for row_id, params in stale:
            adopted = adopt_label_model(params, shipped)
            connection.execute(
                calibration_versions.update()
                .where(calibration_versions.c.id == row_id)
                .values(params=adopted.model_dump(mode="json"), digest=_row_digest(adopted))
            )
    op.create_index(
        op.f("ix_bank_version_questions_question_id"), "bank_version_questions", ["question_id"], unique=False
    )


def downgrade() -> None:
    # The adopted calibrations stay as they are: the classifiers they replaced are gone.
    op.drop_index(op.f("ix_bank_version_questions_question_id"), table_name="bank_version_questions")
