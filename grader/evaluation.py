"""Grading a labelled file and measuring agreement; fitting the calibration on it.

Rows are JSON lines with `id`, `question_id`, `answer` and, when labelled, `score` (0–10) and
`label` (the kind of answer). The baseline beside every report is whole-answer cosine to the
reference with the same embedder, mapped to 0–100 by rank-preserving scaling, so the comparison
is what the grader adds over the usual off-the-shelf approach.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from grader.errors import InvalidInput
from grader.grading.grader import Grader
from grader.scoring import calibration as cal
from grader.scoring.engine import SCORING_VERSION, embed_answers, measure_signals
from grader.scoring.metrics import summarise
from grader.scoring.types import ScoreResult


class EvalRow(BaseModel):
    id: str
    question_id: str
    answer: str
    score: float | None = None
    label: str | None = None


def read_rows(path: Path) -> list[EvalRow]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(EvalRow.model_validate_json(line))
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"])
            raise InvalidInput(f"{path} line {number}: field '{field}' {problem['msg']}") from exc
    if not rows:
        raise InvalidInput(f"{path} holds no rows; expected JSON lines with id, question_id, answer")
    return rows


@dataclass(frozen=True)
class Report:
    rows: list[EvalRow]
    results: list[ScoreResult]
    baseline: list[float]

    @property
    def labelled(self) -> bool:
        return all(r.score is not None for r in self.rows)

    def metrics(self) -> dict[str, float]:
        return summarise([r.score for r in self.results], [r.score or 0.0 for r in self.rows])

    def baseline_metrics(self) -> dict[str, float]:
        return summarise(self.baseline, [r.score or 0.0 for r in self.rows])

    def mean_by_label(self) -> dict[str, float]:
        groups: dict[str, list[float]] = defaultdict(list)
        for row, result in zip(self.rows, self.results, strict=True):
            groups[row.label or "(none)"].append(result.score)
        return {label: sum(v) / len(v) for label, v in sorted(groups.items())}

    def prediction_lines(self) -> Iterator[str]:
        for row, result in zip(self.rows, self.results, strict=True):
            yield json.dumps({"id": row.id, "score": result.score, "flags": [f.value for f in result.flags],
                              "confidence": result.confidence}, ensure_ascii=False)


def _whole_cosine_baseline(grader: Grader, rows: Sequence[EvalRow]) -> list[float]:
    answers = grader.embedder.encode([r.answer for r in rows])
    references = {p.reference.id: p.answer_vector for p in grader.prepared()}
    cosines = [float(a @ references[r.question_id]) for a, r in zip(answers, rows, strict=True)]
    low, high = min(cosines), max(cosines)
    return [100 * (c - low) / max(high - low, 1e-9) for c in cosines]


def evaluate(grader: Grader, rows: Sequence[EvalRow]) -> Report:
    for row in rows:
        grader.reference(row.question_id)  # unknown question: fail before grading anything
    results = grader.grade_many([(r.question_id, r.answer) for r in rows])
    return Report(list(rows), results, _whole_cosine_baseline(grader, rows))


def fit_calibration(grader: Grader, rows: Sequence[EvalRow], *, source: str, command: str) -> cal.Calibration:
    unlabelled = [r.id for r in rows if r.score is None]
    if unlabelled:
        raise InvalidInput(f"calibration needs a 'score' on every row; missing on {', '.join(unlabelled[:5])}")
    prepared = {p.reference.id: p for p in grader.prepared()}
    bank = list(prepared.values())
    embedded = embed_answers([r.answer for r in rows], grader.embedder)
    examples = [
        measure_signals(e, prepared[r.question_id], bank).model_copy(update={"label": r.score})
        for e, r in zip(embedded, rows, strict=True)
    ]
    return cal.fit(
        examples,
        version=f"{SCORING_VERSION}+{grader.embedder.name}",
        fitted_on=source,
        fit_command=command,
    )
