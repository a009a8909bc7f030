"""The embedded queue in-process: interactive submissions before batch chunks, chunks graded whole
with `run_chunk` (as a Celery worker does), both sweeps on start, and stop after what is queued."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from grader.db.migrate import upgrade
from grader.db.session import get_session_factory
from grader.queue import embedded
from grader.queue.embedded import EmbeddedQueue


def test_submissions_go_before_chunks_and_chunks_are_graded_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'grader.db'}"
    upgrade(url)
    done: list[tuple[str, Any]] = []
    release = threading.Event()
    swept: list[str] = []

    def run_grading(_factory: object, submission_id: uuid.UUID, *_args: object, **_kw: object) -> None:
        release.wait(10)  # hold the thread on the first item until everything is queued
        done.append(("one", submission_id))

    def run_chunk(_factory: object, ids: Sequence[uuid.UUID], *_args: object, **_kw: object) -> dict[str, int]:
        done.append(("chunk", list(ids)))
        return {}

    monkeypatch.setattr(embedded, "run_grading", run_grading)
    monkeypatch.setattr(embedded, "run_chunk", run_chunk)
    monkeypatch.setattr(embedded, "sweep_batches", lambda *_a, **_k: swept.append("batches"))
    monkeypatch.setattr(embedded, "sweep_stuck", lambda *_a, **_k: swept.append("stuck"))

    queue = EmbeddedQueue(
        get_session_factory(url),
        lambda: None,  # type: ignore[arg-type,return-value]
        review_confidence_below=0.5,
        stuck_after=timedelta(minutes=5),
    )
    queue.start()
    first, later = uuid.uuid4(), uuid.uuid4()
    batch, chunk = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    queue.enqueue(first)
    queue.enqueue_chunk(batch, chunk)
    queue.enqueue(later)
    release.set()
    queue.stop()

    assert swept == ["batches", "stuck"]  # on start: what a previous process left pending
    assert done == [("one", first), ("one", later), ("chunk", chunk)]
    assert queue.depths() == {"embedded": 0}
    assert queue.check()[0]
