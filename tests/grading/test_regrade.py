"""Re-grading against a new bank version on the real Postgres (a database of its own, since it
publishes a new version of the default bank): only an admin's request re-pins and re-queues, only
finished answers pinned to an older version, and both grades stay."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import select

from grader.db.models import Grade, Status, Submission
from grader.db.session import SessionFactory, get_session_factory, session_scope
from grader.embeddings import HashEmbedder
from grader.errors import BankNotFound, QuestionNotFound
from grader.grading.grader import Grader
from grader.grading.regrade import regrade
from grader.grading.run import run_chunk, run_grading
from grader.keys.principal import CLI
from grader.questions.banks import edit_draft, publish_bank
from grader.questions.drafts import DraftEdit
from grader.questions.pins import latest_pins
from grader.scoring.calibration import load_calibration
from grader.settings import Settings
from grader.submissions.schemas import SubmissionCreate
from grader.submissions.submit import submit
from tests.support.services import migrated_database

pytestmark = pytest.mark.services


class Recorder:
    def __init__(self) -> None:
        self.ids: list[uuid.UUID] = []
        self.chunks: list[list[uuid.UUID]] = []

    def enqueue(self, submission_id: uuid.UUID) -> None:
        self.ids.append(submission_id)

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        self.chunks.append(list(submission_ids))


@pytest.fixture(scope="module")
def sessions() -> Iterator[SessionFactory]:
    with migrated_database("grader_regrade") as url:
        yield get_session_factory(Settings(database_url=url).database_url)


def test_only_an_explicit_regrade_moves_old_answers_to_the_new_version(sessions: SessionFactory) -> None:
    grader = Grader({}, HashEmbedder(), load_calibration(Settings().calibration_file))
    ids: list[uuid.UUID] = []
    with session_scope(sessions) as session:
        for question in ("q03", "q03", "q05"):
            data = SubmissionCreate(candidate_id=f"c-{len(ids)}", question_id=question, answer="多头注意力，不同子空间")
            ids.append(submit(session, data, actor=CLI, max_answer_chars=10_000, queue=Recorder())[0].id)
    for sid in ids[:2]:
        assert run_grading(sessions, sid, lambda: grader, 0.5) in (Status.GRADED, Status.NEEDS_REVIEW)
    with session_scope(sessions) as session:
        v1 = latest_pins(session, ["q03"])["q03"].content_hash
        queue = Recorder()
        assert regrade(session, "llm", actor=CLI, queue=queue).queued == 0  # all on the latest version
        edit_draft(session, "llm", "q03", DraftEdit(question="为什么 Transformer 要用多头注意力？（修订）"), actor=CLI)
        published = publish_bank(session, "llm", actor=CLI).version
        v2 = latest_pins(session, ["q03"])["q03"].content_hash
        with pytest.raises(BankNotFound):
            regrade(session, "nope", actor=CLI, queue=queue)
        with pytest.raises(QuestionNotFound):
            regrade(session, "llm", actor=CLI, queue=queue, question_id="zz-1")
    assert v2 != v1

    with session_scope(sessions) as session:
        report = regrade(session, "llm", actor=CLI, queue=queue, question_id="q03")
        assert queue.chunks == []  # queued only once committed
    # The two graded q03 answers; the third (q05, still pending) is not the re-grade's to touch.
    assert report.queued == 2 and report.questions == {"q03": 2} and report.version == published
    assert sorted(queue.chunks[0]) == sorted(ids[:2])
    counts = run_chunk(sessions, queue.chunks[0], lambda: grader, 0.5)
    assert counts["graded"] + counts["needs_review"] == 2
    with sessions() as session:
        for sid in ids[:2]:
            hashes = set(session.scalars(select(Grade.reference_hash).where(Grade.submission_id == sid)))
            assert hashes == {v1, v2}
            found = session.get(Submission, sid)
            assert found is not None and found.reference_hash == v2
        pending = session.get(Submission, ids[2])
        assert pending is not None and pending.status == Status.PENDING
