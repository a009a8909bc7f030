"""Fitting a bank's calibration: on a labelled file or on its reviewers' final scores.

The answers are measured against the bank's latest published version (with its questions as peers),
the current calibration's agreement on them is the "before" figure (it was not fitted on them), the
new fit's the "after" (on held-back answers, else 5-fold cross-validated); both also say what review would
catch (`agreement`: the share routed, the big errors not routed, the correct answers sunk unseen). The fit
becomes a new, unpublished calibration version of the bank for an admin to publish. Takes the caller's
session and never commits.

Safe to publish (issue 18, items 2 and 12: 14 overrides by one reviewer inverted a bank; 24 reviewed
answers of 5 questions were fitted without a word about the sample):
- from reviews, the fit needs `MIN_REVIEWED` reviewed answers in all, counting only questions with at
  least `MIN_PER_QUESTION` each, from at least `MIN_REVIEWERS` reviewers (`grader.questions.reviewed`,
  which the bank page reads too); the refusal says how many more;
- every fifth answer is held back from the fit: before/after figures are on those answers, not on the
  ones fitted; the bank's earlier grades (the latest `EARLIER_SAMPLE`) are scored by both calibrations,
  and so are the bank's own reference answers;
- where the new fit disagrees sharply with the one grading now (Spearman on the earlier grades under
  `SHARP_DISAGREEMENT`), or scores the bank's reference answers low (median under `REFERENCE_LOW`),
  the proposal carries a warning with a code, and publishing it needs a confirmation naming that code
  (`grader.questions.calibrations.publish_calibration`);
- who the labels came from (reviewer: count) is in the proposal and in the `calibration.added` audit
  entry, with the figures and warnings, so overrides that move a calibration are visible in the audit.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.db.models import Submission
from grader.db.review_models import ResultRow
from grader.errors import InvalidBankFile, InvalidInput
from grader.grading.grader import Grader
from grader.keys.principal import Principal
from grader.questions.banks import published_references
from grader.questions.calibrations import add_calibration, bank_calibration, fit_bank_calibration
from grader.questions.reviewed import LabelledAnswer, enough_reviews, reviewed_labels
from grader.scoring.calibration import (
    BIG_ERROR,
    CORRECT_MARK,
    Calibration,
    Signals,
    final_score,
    routed,
    settle,
)
from grader.scoring.engine import measure_signals
from grader.scoring.metrics import review_figures, spearman, summarise
from grader.scoring.reading import embed_answers

MIN_EXAMPLES = 10  # five folds of at least two answers
HOLD_BACK_EVERY = 5  # every fifth labelled answer is held back from the fit, to measure it
EARLIER_SAMPLE = 200
SHARP_DISAGREEMENT = 0.3
REFERENCE_LOW = 50.0


class CalibrationReport(BaseModel):
    bank: str
    examples: int
    current: str  # the calibration version graded with so far
    # The current calibration's agreement on these answers and what its review queue catches (`agreement`)
    before: dict[str, float]
    after: dict[str, float]  # the new fit's, on the held-back answers (or 5-fold cross-validated)
    version: int  # the new (unpublished) calibration version
    calibration: Calibration
    held_back: int = 0  # answers kept out of the fit; `before`/`after` are measured on them
    labels_from: dict[str, int] = Field(default_factory=dict)  # reviewer (or the file) → answers
    earlier: dict[str, float] = Field(default_factory=dict)  # the bank's earlier grades, both calibrations
    references: dict[str, float] = Field(default_factory=dict)  # the bank's reference answers, both
    warnings: dict[str, str] = Field(default_factory=dict)  # code → why; publishing needs the codes named


def read_labelled(path: Path) -> list[LabelledAnswer]:
    """JSON lines with question_id, answer, score (0–10); every bad line is reported by number."""
    rows: list[LabelledAnswer] = []
    errors: list[dict[str, object]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(LabelledAnswer.model_validate(json.loads(line)))
        except (ValidationError, json.JSONDecodeError, TypeError) as exc:
            if isinstance(exc, ValidationError):
                for err in exc.errors():
                    field = ".".join(str(p) for p in err["loc"])
                    errors.append({"row": number, "field": field, "message": err["msg"]})
            else:
                errors.append({"row": number, "field": "(line)", "message": f"not a JSON object: {exc}"})
    if errors:
        raise InvalidBankFile(f"{path.name}: {len(errors)} bad line(s); nothing was fitted", errors)
    return rows


def reviewed_answers(session: Session, bank: str) -> list[LabelledAnswer]:
    """The reviewers' final scores of the bank's questions, as 0–10 labels, with who gave them; refused
    (with how many more are needed) below the minimums."""
    return enough_reviews(bank, reviewed_labels(session, bank))


def fit_from_reviews(
    session: Session, grader: Grader, bank: str, *, actor: Principal, review_below: float = 0.5
) -> CalibrationReport:
    """The bank's own calibration fitted on its reviewers' scores, as a new unpublished version: what
    `grader calibrate --bank NAME --from-reviews` and the dashboard's bank page both run."""
    return calibrate_bank(
        session,
        grader,
        bank,
        reviewed_answers(session, bank),
        source=f"reviews of bank {bank}",
        command=from_reviews_command(bank),
        actor=actor,
        review_below=review_below,
    )


def from_reviews_command(bank: str) -> str:
    """The command that reproduces a fit from reviews (the calibration's `fit_command`), whichever door ran it."""
    return f"grader calibrate --bank {shlex.quote(bank)} --from-reviews"


def earlier_answers(session: Session, bank: str, limit: int = EARLIER_SAMPLE) -> list[tuple[str, str]]:
    """The bank's latest graded answers (question id, answer), reviewed or not."""
    questions = list(published_references(session, bank).references)
    rows = session.execute(
        select(Submission.question_id, Submission.answer)
        .join(ResultRow, ResultRow.submission_id == Submission.id)
        .where(Submission.question_id.in_(questions))
        .order_by(ResultRow.graded_at.desc())
        .limit(limit)
    )
    return [(q, a) for q, a in rows]


def calibrate_bank(
    session: Session,
    grader: Grader,
    bank: str,
    rows: Sequence[LabelledAnswer],
    *,
    source: str,
    command: str,
    actor: Principal,
    review_below: float = 0.5,
) -> CalibrationReport:
    """`review_below`: the confidence under which the service routes a grade to review (its setting
    `review_confidence_below`), for the before/after figures of what review would catch."""
    published = published_references(session, bank)
    unknown = [
        {"row": i, "field": "question_id", "message": f"{r.question_id!r} is not in bank '{bank}' v{published.version}"}
        for i, r in enumerate(rows, start=1)
        if r.question_id not in published.references
    ]
    if unknown:
        raise InvalidBankFile(f"{len(unknown)} answer(s) name questions outside bank '{bank}'", unknown[:200])
    if len(rows) < MIN_EXAMPLES:
        raise InvalidInput(
            f"calibrating bank '{bank}' needs at least {MIN_EXAMPLES} labelled answers; {source} has {len(rows)}"
        )
    peers = grader.prepare(published.references.values())
    by_id = {p.reference.id: p for p in peers}

    def signals(items: Sequence[tuple[str, str]]) -> list[Signals]:
        if not items:
            return []
        embedded = embed_answers([answer for _, answer in items], grader.embedder)
        return [measure_signals(e, by_id[q], peers) for e, (q, _) in zip(embedded, items, strict=True)]

    examples = [
        s.model_copy(update={"label": r.score})
        for s, r in zip(signals([(r.question_id, r.answer) for r in rows]), rows, strict=True)
    ]
    # Held back: every fifth answer, when there are enough to spare them (a labelled file of 10-24
    # answers is fitted whole and measured by cross-validation alone, as before).
    held = [i for i in range(len(rows)) if i % HOLD_BACK_EVERY == HOLD_BACK_EVERY - 1] if len(rows) >= 25 else []
    held_set = set(held)
    fit_on = [e for i, e in enumerate(examples) if i not in held_set]
    own = bank_calibration(session, bank)
    current = own.calibration if own is not None else grader.calibration
    fitted = fit_bank_calibration(
        fit_on, grader.calibration, bank=bank, embedder=grader.embedder.name, source=source, command=command
    )
    if held:
        labels = [rows[i].score for i in held]
        before = agreement(current, [examples[i] for i in held], labels, review_below)
        after = agreement(fitted, [examples[i] for i in held], labels, review_below)
    else:
        before = agreement(current, examples, [r.score for r in rows], review_below)
        after = {k.removeprefix(f"cv_{bank}_"): v for k, v in fitted.cv_metrics.items() if k.startswith(f"cv_{bank}_")}
    earlier_signals = signals(earlier_answers(session, bank))
    earlier = _compare(
        [final_score(current, s) for s in earlier_signals], [final_score(fitted, s) for s in earlier_signals]
    )
    reference_signals = signals([(ref.id, ref.reference_answer) for ref in published.references.values()])
    references = _compare(
        [final_score(current, s) for s in reference_signals], [final_score(fitted, s) for s in reference_signals]
    )
    warnings = _warnings(earlier, references)
    labels_from = dict(Counter(r.reviewer or source for r in rows).most_common())
    info = add_calibration(
        session,
        bank,
        fitted,
        source=source,
        actor=actor,
        proposal={
            "labels_from": labels_from,
            "held_back": len(held),
            "before": _rounded(before),
            "after": _rounded(after),
            "earlier": earlier,
            "references": references,
            "warnings": warnings,
        },
    )
    return CalibrationReport(
        bank=bank,
        examples=len(rows),
        current=current.version,
        before=_rounded(before),
        after=_rounded(after),
        version=info.version,
        calibration=fitted,
        held_back=len(held),
        labels_from=labels_from,
        earlier=earlier,
        references=references,
        warnings=warnings,
    )


def agreement(
    calibration: Calibration, examples: Sequence[Signals], labels: Sequence[float], review_below: float
) -> dict[str, float]:
    """Agreement with the labels of the grades the service would give (conflicts settled as it settles them),
    and what its review queue would catch: the share routed, the share off by BIG_ERROR or more and not
    routed, and the share marked CORRECT_MARK or more that were scored BIG_ERROR lower and not routed (a good
    candidate marked down with nobody looking): an admin weighs these before publishing a calibration."""
    settled = [settle(calibration, e) for e in examples]
    scores = [s.assessment.score for s in settled]
    queued = [routed(s.assessment.confidence, s.flags, review_below) for s in settled]
    return {**summarise(scores, list(labels)), **review_figures(scores, labels, queued, BIG_ERROR, CORRECT_MARK)}


def _rounded(figures: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in figures.items()}


def _compare(before: Sequence[float], after: Sequence[float]) -> dict[str, float]:
    """The same answers scored by the current calibration and the new fit."""
    if not before:
        return {"answers": 0}
    changes = [abs(a - b) for a, b in zip(before, after, strict=True)]
    return _rounded(
        {
            "answers": len(before),
            "median_before": float(np.median(before)),
            "median_after": float(np.median(after)),
            "mean_change": float(np.mean(changes)),
            "moved_20_or_more": sum(c >= 20 for c in changes) / len(changes),
            "spearman_before_after": spearman(before, after) if len(before) > 2 else 1.0,
        }
    )


def _warnings(earlier: dict[str, float], references: dict[str, float]) -> dict[str, str]:
    found = {}
    if earlier.get("answers", 0) > 2 and earlier["spearman_before_after"] < SHARP_DISAGREEMENT:
        found["disagrees"] = (
            f"the new fit orders the bank's {int(earlier['answers'])} latest graded answers unlike the calibration "
            f"grading now (Spearman {earlier['spearman_before_after']:.2f} < {SHARP_DISAGREEMENT}); "
            f"{100 * earlier['moved_20_or_more']:.0f}% would move 20 points or more"
        )
    if references.get("answers", 0) and references["median_after"] < REFERENCE_LOW:
        found["references_low"] = (
            f"the new fit scores the bank's own reference answers low (median {references['median_after']:.0f}, "
            f"was {references['median_before']:.0f}; under {REFERENCE_LOW:.0f})"
        )
    return found
