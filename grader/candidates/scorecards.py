"""Candidates as recruiters think of them: a scorecard per candidate (or per interview) and a ranking of
the candidates who answered the same questions.

A candidate is a `candidate_id` as the submissions name it. Each question counts once: the candidate's
latest answer to it (an answer sent again replaces the earlier one). The score that counts for an answer
is the reviewer's where reviewed, else the grader's (`results.final_score`); the overall score is the mean
over questions, each weighing the same, and only exists once no answer is being graded or waiting for a
reviewer: until then the candidate is shown as `grading` or `in_review` with a partial score, never as 0.
Failed answers (the grader could not grade them) are counted and left out of the mean.

Recruiters see their own submissions only (as everywhere); reviewers and admins see all. Rankings and
standings compare a candidate with the others the caller can see.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Numeric, Select, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from grader.candidates.schemas import (
    CandidatePage,
    CandidateStatus,
    QuestionScore,
    RankedCandidate,
    ReviewState,
    Scorecard,
    Standing,
)
from grader.db.bank_models import Bank, BankQuestion
from grader.db.batch_models import BatchItem
from grader.db.candidate_models import Interview, InterviewItem
from grader.db.models import Question, Status, Submission
from grader.db.review_models import ResultRow
from grader.errors import NotFound
from grader.keys.principal import Principal
from grader.review.results_index import decode_flags
from grader.submissions.reads import latest_grades

SORTS = ("score", "-score", "candidate", "recent")
LABEL_CHARS = 40


class CandidateNotFound(NotFound):
    code = "candidate_not_found"

    def __init__(self, candidate_id: str) -> None:
        super().__init__(f"candidate '{candidate_id}' has no answers", details={"candidate_id": candidate_id})


class InterviewNotFound(NotFound):
    code = "interview_not_found"

    def __init__(self, interview_id: object) -> None:
        super().__init__(f"interview '{interview_id}' does not exist", details={"interview_id": str(interview_id)})


@dataclass(frozen=True)
class CandidateFilter:
    bank: str | None = None
    batch_id: uuid.UUID | None = None
    since: datetime | None = None
    status: CandidateStatus | None = None


def question_label(text: str | None, question_id: str) -> str:
    """A short label of a question, for tables and charts: its first words, not a hashed id."""
    if not text:
        return question_id
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= LABEL_CHARS else one_line[: LABEL_CHARS - 1] + "…"


def _latest_answers(actor: Principal, f: CandidateFilter, question_ids: Sequence[str] | None = None) -> Any:
    """Each visible candidate's latest answer per question, as a subquery with the result's score."""
    rn = (
        func.row_number()
        .over(
            partition_by=(Submission.candidate_id, Submission.question_id),
            order_by=(Submission.created_at.desc(), Submission.id.desc()),
        )
        .label("rn")
    )
    query = select(
        Submission.id,
        Submission.candidate_id,
        Submission.candidate_name,
        Submission.question_id,
        Submission.status,
        Submission.created_at,
        rn,
    )
    query = _scoped(query, actor, f)
    if question_ids is not None:
        query = query.where(Submission.question_id.in_(list(question_ids)))
    latest = query.subquery("latest")
    return (
        select(
            latest.c.id,
            latest.c.candidate_id,
            latest.c.candidate_name,
            latest.c.question_id,
            latest.c.status,
            latest.c.created_at,
            ResultRow.final_score,
        )
        .select_from(latest)
        .outerjoin(ResultRow, ResultRow.submission_id == latest.c.id)
        .where(latest.c.rn == 1)
        .subquery("answers")
    )


def _scoped(query: Select[Any], actor: Principal, f: CandidateFilter) -> Select[Any]:
    if not actor.sees_everything:
        query = query.where(Submission.submitted_by == actor.key_id)
    if f.bank is not None:
        query = query.where(
            Submission.question_id.in_(
                select(BankQuestion.question_id).join(Bank, Bank.id == BankQuestion.bank_id).where(Bank.name == f.bank)
            )
        )
    if f.batch_id is not None:
        query = query.where(Submission.id.in_(select(BatchItem.submission_id).where(BatchItem.batch_id == f.batch_id)))
    if f.since is not None:
        query = query.where(Submission.created_at >= f.since)
    return query


def _per_candidate(answers: Any) -> Any:
    open_ = case((answers.c.status.in_([Status.PENDING.value, Status.RUNNING.value]), 1), else_=0)
    review = case((answers.c.status == Status.NEEDS_REVIEW.value, 1), else_=0)
    failed = case((answers.c.status == Status.FAILED.value, 1), else_=0)
    scored = case((answers.c.status.in_([Status.GRADED.value, Status.NEEDS_REVIEW.value]), answers.c.final_score))
    return (
        select(
            answers.c.candidate_id,
            func.max(answers.c.candidate_name).label("candidate_name"),
            func.count().label("answered"),
            func.sum(open_).label("pending"),
            func.sum(review).label("in_review"),
            func.sum(failed).label("failed"),
            func.avg(scored).label("partial"),
            func.max(answers.c.created_at).label("last_submitted_at"),
        )
        .group_by(answers.c.candidate_id)
        .subquery("candidates")
    )


def _status(pending: int, in_review: int) -> CandidateStatus:
    if pending:
        return "grading"
    if in_review:
        return "in_review"
    return "complete"


def ranking(
    session: Session, actor: Principal, f: CandidateFilter, *, sort: str = "score", limit: int = 50, offset: int = 0
) -> CandidatePage:
    """Candidates ranked by overall score (ties share a rank); those still grading or in review follow,
    shown as such with their partial score. One statement: aggregate, rank, count and page in SQL."""
    per = _per_candidate(_latest_answers(actor, f))
    complete = and_(per.c.pending == 0, per.c.in_review == 0, per.c.partial.is_not(None))
    done = case((complete, 1), else_=0).label("done")
    # Rounded as shown, so candidates whose scores print the same share a rank.
    score = case((complete, func.round(cast(per.c.partial, Numeric), 2))).label("score")
    rank = func.rank().over(partition_by=done, order_by=score.desc()).label("rank")
    tied = func.count().over(partition_by=(done, score)).label("same")
    ranked = select(per, done, score, rank, tied, func.count().over().label("total")).subquery("ranked")
    query = select(ranked)
    if f.status is not None:
        query = query.where(
            {
                "complete": ranked.c.done == 1,
                "in_review": and_(ranked.c.pending == 0, ranked.c.in_review > 0),
                "grading": ranked.c.pending > 0,
            }[f.status]
        )
    order: list[Any]
    if sort == "candidate":
        order = [ranked.c.candidate_id]
    elif sort == "recent":
        order = [ranked.c.last_submitted_at.desc(), ranked.c.candidate_id]
    elif sort == "-score":
        order = [ranked.c.done.desc(), ranked.c.score.asc(), ranked.c.partial.asc(), ranked.c.candidate_id]
    else:
        order = [ranked.c.done.desc(), ranked.c.score.desc(), ranked.c.partial.desc(), ranked.c.candidate_id]
    rows = session.execute(query.order_by(*order).limit(limit).offset(offset)).all()
    total = int(rows[0].total) if rows and f.status is None else _count(session, query)
    items = []
    for row in rows:
        finished = bool(row.done)
        items.append(
            RankedCandidate(
                candidate_id=row.candidate_id,
                candidate_name=row.candidate_name,
                status=_status(int(row.pending), int(row.in_review)),
                rank=int(row.rank) if finished else None,
                tied=finished and int(row.same) > 1,
                score=_round(row.score),
                partial_score=_round(row.partial),
                answered=int(row.answered),
                pending=int(row.pending),
                in_review=int(row.in_review),
                failed=int(row.failed),
                last_submitted_at=row.last_submitted_at,
            )
        )
    return CandidatePage(items=items, total=total, limit=limit, offset=offset)


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


# --- scorecards -----------------------------------------------------------------------------------------------


def candidate_scorecard(session: Session, candidate_id: str, actor: Principal) -> Scorecard:
    """Every question the candidate answered (the latest answer to each), over all their interviews."""
    query = select(Submission).where(Submission.candidate_id == candidate_id)
    if not actor.sees_everything:
        query = query.where(Submission.submitted_by == actor.key_id)
    latest: dict[str, Submission] = {}
    for s in session.scalars(query.order_by(Submission.created_at, Submission.id)):
        latest[s.question_id] = s
    if not latest:
        raise CandidateNotFound(candidate_id)
    submissions = sorted(latest.values(), key=lambda s: s.question_id)
    interviews = list(
        session.scalars(
            select(Interview.id)
            .where(
                Interview.id.in_(
                    select(InterviewItem.interview_id).where(
                        InterviewItem.submission_id.in_([s.id for s in latest.values()])
                    )
                )
            )
            .order_by(Interview.created_at)
        )
    )
    return _scorecard(session, actor, candidate_id, None, interviews, submissions)


def interview_scorecard(session: Session, interview_id: uuid.UUID, actor: Principal) -> Scorecard:
    interview = session.get(Interview, interview_id)
    if interview is None or not (actor.sees_everything or interview.submitted_by == actor.key_id):
        raise InterviewNotFound(interview_id)
    submissions = list(
        session.scalars(
            select(Submission)
            .join(InterviewItem, InterviewItem.submission_id == Submission.id)
            .where(InterviewItem.interview_id == interview_id)
            .order_by(InterviewItem.position)
        )
    )
    return _scorecard(session, actor, interview.candidate_id, interview.id, [interview.id], submissions)


def _state(submission: Submission, row: ResultRow | None) -> ReviewState:
    status = submission.status
    if status == Status.GRADED.value and row is not None and row.reviewed:
        return "reviewed"
    return status  # type: ignore[return-value]  # the other statuses are review states of the same name


def _coverage(key_points: Sequence[dict[str, Any]], corrections: Sequence[dict[str, Any]]) -> float | None:
    corrected = {c["key_point_id"]: float(c["credit"]) for c in corrections if c.get("credit") is not None}
    total = sum(float(kp.get("weight", 1.0)) for kp in key_points)
    if total <= 0:
        return None
    got = sum(float(kp.get("weight", 1.0)) * corrected.get(kp["id"], float(kp.get("credit", 0.0))) for kp in key_points)
    return round(got / total, 3)


def _scorecard(
    session: Session,
    actor: Principal,
    candidate_id: str,
    interview_id: uuid.UUID | None,
    interviews: list[uuid.UUID],
    submissions: list[Submission],
) -> Scorecard:
    ids = [s.id for s in submissions]
    rows = {r.submission_id: r for r in session.scalars(select(ResultRow).where(ResultRow.submission_id.in_(ids)))}
    grades = latest_grades(session, ids)
    qids = sorted({s.question_id for s in submissions})
    texts = dict(session.execute(select(Question.id, Question.text).where(Question.id.in_(qids))).all())
    banks = dict(
        session.execute(
            select(BankQuestion.question_id, Bank.name)
            .join(Bank, Bank.id == BankQuestion.bank_id)
            .where(BankQuestion.question_id.in_(qids))
        ).all()
    )
    questions: list[QuestionScore] = []
    covered: list[float] = []
    for s in submissions:
        row = rows.get(s.id)
        grade = grades.get(s.id)
        scored = row is not None and s.status in (Status.GRADED.value, Status.NEEDS_REVIEW.value)
        coverage = None
        if scored and grade is not None and row is not None:
            coverage = _coverage(grade.key_points, row.key_point_corrections)
            if coverage is not None:
                covered.append(coverage)
        questions.append(
            QuestionScore(
                submission_id=s.id,
                question_id=s.question_id,
                question=question_label(texts.get(s.question_id), s.question_id),
                bank=banks.get(s.question_id),
                state=_state(s, row),
                score=round(row.final_score, 2) if scored and row is not None else None,
                grader_score=round(row.grader_score, 2) if row is not None else None,
                reviewer_score=round(row.final_score, 2) if row is not None and row.reviewed else None,
                overridden=bool(row is not None and row.overridden),
                confidence=round(row.confidence, 3) if row is not None else None,
                flags=decode_flags(row.flags) if row is not None else [],
                key_points_covered=coverage,
                graded_at=s.graded_at,
            )
        )
    pending = sum(1 for s in submissions if s.status in (Status.PENDING.value, Status.RUNNING.value))
    in_review = sum(1 for s in submissions if s.status == Status.NEEDS_REVIEW.value)
    failed = sum(1 for s in submissions if s.status == Status.FAILED.value)
    scores = [q.score for q in questions if q.score is not None]
    partial = round(sum(scores) / len(scores), 2) if scores else None
    status = _status(pending, in_review)
    overall = partial if status == "complete" else None
    ranked = sorted((q for q in questions if q.score is not None), key=lambda q: (-(q.score or 0), q.question_id))
    # Up to two each, never the same question on both sides (three questions: one strongest, one weakest).
    k = min(2, len(ranked) // 2)
    strongest = [q.question or q.question_id for q in ranked[:k]]
    weakest = [q.question or q.question_id for q in reversed(ranked[len(ranked) - k :])] if k else []
    first = submissions[0] if submissions else None
    return Scorecard(
        candidate_id=candidate_id,
        candidate_name=next((s.candidate_name for s in submissions if s.candidate_name), None),
        candidate_email=next((s.candidate_email for s in submissions if s.candidate_email), None),
        interview_id=interview_id,
        interviews=interviews,
        status=status,
        answered=len(submissions),
        pending=pending,
        in_review=in_review,
        failed=failed,
        overall_score=overall,
        partial_score=partial,
        key_points_covered=round(sum(covered) / len(covered), 3) if covered else None,
        strongest=strongest,
        weakest=weakest,
        standing=standing(session, actor, candidate_id, qids, overall) if overall is not None and first else None,
        questions=questions,
    )


def standing(
    session: Session, actor: Principal, candidate_id: str, question_ids: Sequence[str], score: float
) -> Standing:
    """Where `score` stands among the finished candidates (this one included) who answered every one of
    `question_ids`, each scored by the mean over those same questions."""
    answers = _latest_answers(actor, CandidateFilter(), question_ids)
    per = _per_candidate(answers)
    others = (
        select(per.c.candidate_id, per.c.partial)
        .where(
            per.c.answered == len(question_ids),
            per.c.pending == 0,
            per.c.in_review == 0,
            per.c.partial.is_not(None),
            per.c.candidate_id != candidate_id,
        )
        .subquery()
    )
    mine = literal(round(score, 2), Numeric)
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((func.round(cast(others.c.partial, Numeric), 2) > mine, 1), else_=0)), 0),
            func.coalesce(func.sum(case((func.round(cast(others.c.partial, Numeric), 2) == mine, 1), else_=0)), 0),
        ).select_from(others)
    ).one()
    count, above, equal = int(row[0]), int(row[1]), int(row[2])
    of = count + 1
    return Standing(
        rank=above + 1,
        of=of,
        percentile=round(100.0 * (of - above) / of, 1),
        tied_with=equal,
    )
