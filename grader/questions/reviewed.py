"""A bank's reviewed answers as labels for its own calibration, and whether there are enough of them.

One place for what "enough" means, read by both doors: the fit (`grader.grading.calibrate`, behind
`grader calibrate --bank NAME --from-reviews` and the dashboard's "拟合本题库的校准" button) refuses
below these minimums, and the bank page (`calibration_readiness`) says how far a bank is from them.

Why these minimums (issue 18, item 2): 14 overrides by one reviewer were enough to invert a bank's
calibration. A fit needs `MIN_REVIEWED` reviewed answers in all, counting only questions with at least
`MIN_PER_QUESTION` each (a question with two labels says nothing about how its answers spread), from
at least `MIN_REVIEWERS` reviewers (one person's marks are one person's scale).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.db.models import Submission
from grader.db.review_models import ResultRow
from grader.errors import BankVersionNotFound, InvalidInput
from grader.questions.banks import published_question_ids
from grader.questions.calibrations import bank_calibration

MIN_REVIEWED = 40
MIN_PER_QUESTION = 5
MIN_REVIEWERS = 2
UNKNOWN_REVIEWER = "(unknown)"  # a reviewed result without a reviewer's name (older rows)


class LabelledAnswer(BaseModel):
    question_id: str
    answer: str = Field(min_length=1)
    score: float = Field(ge=0, le=10)  # the interviewer's (or reviewer's) score, 0–10
    reviewer: str | None = None  # who gave the score, for reviewed answers


class ReviewCounts(BaseModel):
    """How a bank's reviewed answers measure against the fit's minimums."""

    bank: str
    reviewed: int  # reviewed answers of the bank's questions, in all
    usable: int  # of them, on questions with at least `min_per_question` reviewed answers: what the fit counts
    reviewers: list[str]  # who reviewed the usable answers, most answers first
    short_questions: dict[str, int]  # question id → reviewed answers it still needs before its answers count
    min_reviewed: int = MIN_REVIEWED
    min_per_question: int = MIN_PER_QUESTION
    min_reviewers: int = MIN_REVIEWERS

    @property
    def answers_missing(self) -> int:
        """Usable reviewed answers still needed (0 when there are enough)."""
        return max(0, self.min_reviewed - self.usable)

    @property
    def reviewers_missing(self) -> bool:
        return len(self.reviewers) < self.min_reviewers

    @property
    def enough(self) -> bool:
        return not self.answers_missing and not self.reviewers_missing

    def problems(self) -> list[str]:
        """What is missing, one sentence a problem; [] when there is enough (the fit's refusal; the bank page
        words the same facts in Chinese)."""
        problems = []
        if self.answers_missing:
            short = list(self.short_questions.items())
            detail = (
                f"; questions under {self.min_per_question} reviewed answers do not count ("
                + ", ".join(f"{q} needs {n} more" for q, n in short[:10])
                + (", …" if len(short) > 10 else "")
                + ")"
                if short
                else ""
            )
            problems.append(
                f"{self.answers_missing} more reviewed answers (it has {self.usable} usable of the "
                f"{self.min_reviewed} needed, {self.reviewed} reviewed in all){detail}"
            )
        if self.reviewers_missing:
            who = ", ".join(self.reviewers) or "nobody"
            problems.append(f"reviews from at least {self.min_reviewers} reviewers (all are from {who})")
        return problems


class CalibrationReadiness(ReviewCounts):
    """`ReviewCounts` and what grades the bank now: its own published calibration, or the shipped one."""

    own_version: int | None  # the bank's published calibration version; None: the shipped calibration grades it


def reviewed_labels(session: Session, bank: str) -> list[LabelledAnswer]:
    """Every reviewed answer of the bank's published questions, oldest first: the reviewer's final score
    (0–100, stored per result) as a 0–10 label, with who gave it. No minimum is checked here."""
    questions = published_question_ids(session, bank)
    rows = session.execute(
        select(Submission.question_id, Submission.answer, ResultRow.final_score, ResultRow.reviewed_by)
        .join(ResultRow, ResultRow.submission_id == Submission.id)
        .where(ResultRow.reviewed.is_(True), Submission.question_id.in_(questions))
        .order_by(Submission.created_at, Submission.id)
    )
    return [LabelledAnswer(question_id=q, answer=a, score=round(s / 10, 2), reviewer=by) for q, a, s, by in rows]


def _usable(rows: Sequence[LabelledAnswer]) -> list[LabelledAnswer]:
    """The answers of questions with at least `MIN_PER_QUESTION` reviewed answers: what a fit is given."""
    per_question = Counter(r.question_id for r in rows)
    return [r for r in rows if per_question[r.question_id] >= MIN_PER_QUESTION]


def count_reviews(bank: str, rows: Sequence[LabelledAnswer]) -> ReviewCounts:
    per_question = Counter(r.question_id for r in rows)
    usable = _usable(rows)
    reviewers = Counter(r.reviewer or UNKNOWN_REVIEWER for r in usable)
    return ReviewCounts(
        bank=bank,
        reviewed=len(rows),
        usable=len(usable),
        reviewers=[name for name, _ in reviewers.most_common()],
        short_questions={q: MIN_PER_QUESTION - n for q, n in sorted(per_question.items()) if n < MIN_PER_QUESTION},
    )


def enough_reviews(bank: str, rows: Sequence[LabelledAnswer]) -> list[LabelledAnswer]:
    """The reviewed answers of questions with at least `MIN_PER_QUESTION` each; InvalidInput saying what
    is missing unless there are `MIN_REVIEWED` of them from `MIN_REVIEWERS` reviewers or more."""
    counts = count_reviews(bank, rows)
    if problems := counts.problems():
        raise InvalidInput(
            f"fitting bank '{bank}' from reviews needs " + " and ".join(problems) + "; nothing was fitted",
            details={
                "min_reviewed": MIN_REVIEWED,
                "min_per_question": MIN_PER_QUESTION,
                "min_reviewers": MIN_REVIEWERS,
                "usable": counts.usable,
                "reviewers": counts.reviewers,
            },
        )
    return _usable(rows)


def calibration_readiness(session: Session, bank: str) -> CalibrationReadiness:
    """How far the bank is from a calibration of its own: its reviewed answers against the fit's minimums,
    and whether a calibration of its own grades it already. BankNotFound for an unknown bank; a bank not
    yet published has no answers, so none reviewed."""
    own = bank_calibration(session, bank)
    try:
        rows = reviewed_labels(session, bank)
    except BankVersionNotFound:
        rows = []
    return CalibrationReadiness(
        **count_reviews(bank, rows).model_dump(), own_version=own.version if own is not None else None
    )
