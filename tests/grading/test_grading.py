"""The background grading path (`service.run_grading`, `claim`, `sweep_stuck`) on the real Postgres with
the real grader: what a worker or the embedded thread does with one submission id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from grader.db.base import utcnow
from grader.db.models import AuditEntry, Grade, Question, ReferenceVersion, Status, Submission
from grader.db.session import SessionFactory, get_session_factory, session_scope
from grader.grading.grader import SCORING_VERSION, Grader, build_grader
from grader.grading.record import MAX_ATTEMPTS
from grader.grading.run import run_grading
from grader.grading.sweep import sweep_stuck
from grader.keys.principal import CLI
from grader.settings import Settings
from grader.submissions.reads import get_submission
from grader.submissions.schemas import SubmissionCreate
from grader.submissions.submit import submit as submit_answer

pytestmark = pytest.mark.services

# q03: why Transformers use multi-head attention.
GOOD = (
    "单个注意力头视角单一，只能学到一种关注模式。多头注意力把 d_model 拆成几份，每个头有自己的 Q、K、V "
    "投影矩阵，在不同子空间里并行计算注意力，最后拼接起来，这样模型能同时捕捉语义、句法、位置等不同特征。"
)


class Recorder:
    def __init__(self) -> None:
        self.ids: list[uuid.UUID] = []

    def enqueue(self, submission_id: uuid.UUID) -> None:
        self.ids.append(submission_id)

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        self.ids.extend(submission_ids)


@pytest.fixture(scope="module")
def grader() -> Grader:
    return build_grader(Settings())


@pytest.fixture
def sessions(clean_db: Settings) -> SessionFactory:
    return get_session_factory(clean_db.database_url)


def submit(
    sessions: SessionFactory,
    grader: Grader,
    answer: str = GOOD,
    question_id: str = "q03",
    queue: Recorder | None = None,
) -> uuid.UUID:
    with session_scope(sessions) as session:
        submission, _ = submit_answer(
            session,
            SubmissionCreate(candidate_id="c1", question_id=question_id, answer=answer),
            actor=CLI,
            max_answer_chars=10_000,
            queue=queue or Recorder(),
        )
        return submission.id


def count(sessions: SessionFactory, model: type, *where: object) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def test_enqueues_only_after_commit(sessions: SessionFactory, grader: Grader) -> None:
    recorder = Recorder()
    with pytest.raises(RuntimeError), session_scope(sessions) as session:
        submit_answer(
            session,
            SubmissionCreate(candidate_id="c", question_id="q03", answer=GOOD),
            actor=CLI,
            max_answer_chars=10_000,
            queue=recorder,
        )
        assert recorder.ids == []
        raise RuntimeError("request failed after the insert")
    assert recorder.ids == [] and count(sessions, Submission) == 0
    submission_id = submit(sessions, grader, queue=recorder)
    assert recorder.ids == [submission_id]


def test_grading_twice_writes_one_grade(sessions: SessionFactory, grader: Grader) -> None:
    submission_id = submit(sessions, grader)
    first = run_grading(sessions, submission_id, lambda: grader, 0.5)
    second = run_grading(sessions, submission_id, lambda: grader, 0.5)
    assert first in (Status.GRADED, Status.NEEDS_REVIEW) and second is None
    assert count(sessions, Grade, Grade.submission_id == submission_id) == 1
    assert count(sessions, AuditEntry, AuditEntry.action == "submission.graded") == 1
    with sessions() as session:
        submission, grade = get_submission(session, submission_id, CLI)
        assert grade is not None and submission.status == first.value and submission.attempts == 1
        assert grade.scoring_version == SCORING_VERSION
        assert grade.reference_hash == grader.bank["q03"].content_hash
        assert {kp["id"] for kp in grade.key_points} == {kp.id for kp in grader.bank["q03"].key_points}
        assert grade.score > 30, grade.feedback
        assert session.get(ReferenceVersion, ("q03", grade.reference_hash)) is not None


def test_a_redelivered_task_after_a_lost_status_update_writes_nothing(sessions: SessionFactory, grader: Grader) -> None:
    submission_id = submit(sessions, grader)
    run_grading(sessions, submission_id, lambda: grader, 0.5)
    with session_scope(sessions) as session:  # the worker died after writing the grade, before the status
        session.execute(update(Submission).values(status=Status.RUNNING.value))
    assert run_grading(sessions, submission_id, lambda: grader, 0.5) is None
    assert count(sessions, Grade) == 1


def test_flagged_or_unsure_grades_need_review(sessions: SessionFactory, grader: Grader) -> None:
    stuffed = submit(
        sessions, grader, answer="RLHF、PPO、奖励模型、SFT、人类反馈、策略梯度、InstructGPT、排序。", question_id="q05"
    )
    assert run_grading(sessions, stuffed, lambda: grader, 0.5) == Status.NEEDS_REVIEW
    # A non-answer is capped at 0, the one flag measured right on every labelled set: graded, not queued.
    non_answer = submit(sessions, grader, answer="不知道，没学过。")
    assert run_grading(sessions, non_answer, lambda: grader, 0.5) == Status.GRADED
    good = submit(sessions, grader)
    # With the bar at full confidence every grade is unsure enough for a person to look.
    assert run_grading(sessions, good, lambda: grader, 1.01) == Status.NEEDS_REVIEW


def test_an_unpinned_question_in_no_published_bank_fails_with_the_reason(
    sessions: SessionFactory, grader: Grader
) -> None:
    """A submission from before pinning is pinned when claimed; one whose question no published bank
    holds any more cannot be graded, and says so."""
    with session_scope(sessions) as session:
        if session.get(Question, "zz-gone") is None:
            session.add(Question(id="zz-gone", text="a question no bank holds", current_hash="0" * 16))
        submission = Submission(
            candidate_id="c1", question_id="zz-gone", answer=GOOD, status=Status.PENDING, submitted_by=None
        )
        session.add(submission)
        session.flush()
        submission_id = submission.id
    assert run_grading(sessions, submission_id, lambda: grader, 0.5) is None
    with sessions() as session:
        found = session.get(Submission, submission_id)
        assert found is not None and found.status == Status.FAILED
        assert found.failure_reason == "question 'zz-gone' is in no published question bank"


def test_an_unpinned_submission_is_pinned_to_the_latest_version_when_claimed(
    sessions: SessionFactory, grader: Grader
) -> None:
    submission_id = submit(sessions, grader)
    with session_scope(sessions) as session:
        session.execute(update(Submission).where(Submission.id == submission_id).values(reference_hash=None))
    assert run_grading(sessions, submission_id, lambda: grader, 0.5) in (Status.GRADED, Status.NEEDS_REVIEW)
    with sessions() as session:
        found = session.get(Submission, submission_id)
        assert found is not None and found.reference_hash == grader.bank["q03"].content_hash


def test_claims_stop_after_max_attempts(sessions: SessionFactory, grader: Grader) -> None:
    submission_id = submit(sessions, grader)
    with session_scope(sessions) as session:
        session.execute(update(Submission).values(attempts=MAX_ATTEMPTS, status=Status.RUNNING.value))
    assert run_grading(sessions, submission_id, lambda: grader, 0.5) is None
    with sessions() as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None and submission.status == Status.FAILED
        assert "gave up after 3 attempts" in (submission.failure_reason or "")


def test_sweep_requeues_only_what_is_stuck(sessions: SessionFactory, grader: Grader) -> None:
    stuck_pending, stuck_running, fresh, exhausted, done = (submit(sessions, grader) for _ in range(5))
    long_ago = utcnow() - timedelta(minutes=10)
    with session_scope(sessions) as session:
        session.execute(update(Submission).where(Submission.id != fresh).values(updated_at=long_ago))
        session.execute(update(Submission).where(Submission.id == stuck_running).values(status="running"))
        session.execute(update(Submission).where(Submission.id == exhausted).values(attempts=3))
        session.execute(update(Submission).where(Submission.id == done).values(status="graded"))
    recorder = Recorder()
    with session_scope(sessions) as session:
        result = sweep_stuck(session, recorder, stuck_after=timedelta(minutes=5))
        assert recorder.ids == []  # nothing is sent before the commit
    assert set(result.requeued) == set(recorder.ids) == {stuck_pending, stuck_running}
    assert result.failed == [exhausted]
    # Their clocks restarted: the next sweep leaves them alone.
    with session_scope(sessions) as session:
        assert sweep_stuck(session, recorder, stuck_after=timedelta(minutes=5)).requeued == []
