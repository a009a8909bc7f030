"""Batch test helpers: a queue that records what it is given, and a batch uploaded straight through the
use case."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from grader.batches import uploads as batches
from grader.batches.parsing import parse_sheet
from grader.db.batch_models import BatchItem
from grader.db.models import Role
from grader.db.session import SessionFactory, session_scope
from grader.keys.api_keys import create_api_key
from grader.keys.principal import Principal
from tests.support.sheets import QUESTIONS, csv_bytes


class Recorder:
    def __init__(self) -> None:
        self.chunks: list[tuple[uuid.UUID, list[uuid.UUID]]] = []
        self.single: list[uuid.UUID] = []

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        self.chunks.append((batch_id, list(submission_ids)))

    def enqueue(self, submission_id: uuid.UUID) -> None:
        self.single.append(submission_id)


def new_batch(sessions: SessionFactory, n: int, queue: Recorder) -> tuple[uuid.UUID, list[uuid.UUID]]:
    rows = [("candidate_id", "question_id", "answer")]
    rows += [(f"c{i}", f"q{i % 12 + 1:02d}", f"位置编码提供顺序信息，温度控制随机性 {i}") for i in range(n)]
    sheet = parse_sheet(csv_bytes(rows), QUESTIONS)
    with session_scope(sessions) as session:
        key, _ = create_api_key(session, "batch-test", Role.RECRUITER, Principal(None, "t", Role.ADMIN))
        actor = Principal(key.id, key.name, Role.RECRUITER)
        batch = batches.create_batch(
            session,
            sheet,
            filename="a.csv",
            actor=actor,
            queue=queue,
        )
        batch_id = batch.id
    with sessions() as session:
        ids = list(
            session.scalars(
                select(BatchItem.submission_id).where(BatchItem.batch_id == batch_id).order_by(BatchItem.position)
            )
        )
    return batch_id, ids
