"""The results index's flag encoding, and the statistics on SQLite (embedded mode)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from grader.db.migrate import upgrade
from grader.db.models import Grade, Question, ReferenceVersion, Status, Submission
from grader.db.session import get_session_factory, session_scope
from grader.review.results_index import decode_flags, encode_flags, index_result
from grader.review.stats import StatsFilter, question_stats


def test_flags_round_trip() -> None:
    assert encode_flags(["too_short", "off_topic", "too_short"]) == "|off_topic|too_short|"
    assert decode_flags(encode_flags(["off_topic"])) == ["off_topic"]
    assert encode_flags([]) == "" and decode_flags("") == []


def test_stats_on_sqlite_compute_the_median_in_python(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'grader.db'}"
    upgrade(url)
    with session_scope(get_session_factory(url)) as session:
        session.add(Question(id="t01", text="问题", current_hash="h"))
        session.add(ReferenceVersion(question_id="t01", content_hash="h", reference_answer="参考", key_points=[]))
        for i, score in enumerate([10.0, 20.0, 95.0, 100.0]):
            submission = Submission(
                id=uuid.uuid4(),
                candidate_id=f"c{i}",
                question_id="t01",
                answer="答",
                status=Status.GRADED.value,
                graded_at=datetime.now(UTC),
            )
            session.add(submission)
            session.flush()
            session.add(
                Grade(
                    submission_id=submission.id,
                    question_id="t01",
                    scoring_version="1",
                    reference_hash="h",
                    embedder="e",
                    calibration="c",
                    score=score,
                    confidence=0.9,
                    flags=["too_short"] if i == 0 else [],
                    key_points=[],
                    feedback="",
                    signals={},
                )
            )
            session.flush()
            index_result(session, submission)
        session.flush()
        [stats] = question_stats(session, StatsFilter())
    assert stats.count == 4 and stats.median == 57.5 and stats.mean == 56.25
    assert stats.histogram == [0, 1, 1, 0, 0, 0, 0, 0, 0, 2]
    assert stats.share_flagged == 0.25 and stats.mean_abs_override_delta is None
