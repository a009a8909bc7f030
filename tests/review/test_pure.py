"""Pure pieces of the dashboard and review layer, and the statistics on SQLite (embedded mode)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from grader.dashboard.highlight import Run, segments, state_of
from grader.dashboard.views import parse_queue
from grader.db.migrate import upgrade
from grader.db.models import Grade, Question, ReferenceVersion, Status, Submission
from grader.db.session import get_session_factory, session_scope
from grader.results_index import decode_flags, encode_flags, index_result
from grader.review import StatsFilter, question_stats

ANSWER = "多头注意力把向量拆开。每个头学不同的特征。最后拼接。"


def kp(kp_id: str, credit: float, start: int | None = None, end: int | None = None, contradicted: bool = False):
    evidence = None if start is None else {"start": start, "end": end, "text": ANSWER[start:end]}
    return {"id": kp_id, "credit": credit, "contradicted": contradicted, "evidence": evidence}


def test_states_follow_the_feedback_thresholds() -> None:
    assert state_of(0.9, False) == "covered"
    assert state_of(0.3, False) == "partial"
    assert state_of(0.1, False) == "missed"
    assert state_of(0.9, True) == "contradicted"


def test_segments_cover_the_answer_exactly_and_mark_overlaps_by_severity() -> None:
    runs = segments(ANSWER, [kp("kp1", 0.9, 0, 10), kp("kp2", 0.4, 5, 21), kp("kp3", 0.0, 11, 21, contradicted=True),
                             kp("kp4", 0.1, 0, 5)])
    assert "".join(r.text for r in runs) == ANSWER
    assert runs[0] == Run(ANSWER[0:5], "covered", ("kp1",))  # kp4 is missed: not marked
    assert runs[1] == Run(ANSWER[5:10], "covered", ("kp1", "kp2"))
    assert runs[2] == Run(ANSWER[10:11], "partial", ("kp2",))
    assert runs[3] == Run(ANSWER[11:21], "contradicted", ("kp2", "kp3"))
    assert runs[4].state is None


def test_segments_drop_offsets_that_do_not_fit_the_answer() -> None:
    bad = {"id": "kp1", "credit": 1.0, "contradicted": False, "evidence": {"start": 3, "end": 999, "text": "x"}}
    wrong_text = {"id": "kp2", "credit": 1.0, "contradicted": False, "evidence": {"start": 0, "end": 2, "text": "不是"}}
    assert segments(ANSWER, [bad, wrong_text]) == [Run(ANSWER, None)]
    assert segments("", []) == []


def test_flags_round_trip() -> None:
    assert encode_flags(["too_short", "off_topic", "too_short"]) == "|off_topic|too_short|"
    assert decode_flags(encode_flags(["off_topic"])) == ["off_topic"]
    assert encode_flags([]) == "" and decode_flags("") == []


def test_queue_query_keeps_good_values_and_reports_bad_ones() -> None:
    q = parse_queue({"view": "all", "question": "q03", "score_min": "x", "score_max": "80", "flag": "off_topic",
                     "graded_from": "2026-11-29", "graded_to": "nope", "sort": "-score", "page": "3"})
    assert q.filters.status is None and q.filters.question_id == "q03" and q.filters.score_max == 80
    assert q.filters.score_min is None and q.filters.graded_to is None
    # A Beijing-time day starts at 16:00 UTC the day before.
    assert q.filters.graded_from == datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    assert q.sort == "-score" and q.page == 3 and q.offset == 100
    assert len(q.errors) == 2
    assert "score_min" not in q.url() and "question=q03" in q.url(page=1)
    default = parse_queue({})
    assert default.filters.status == Status.NEEDS_REVIEW and default.sort == "confidence" and not default.errors


def test_stats_on_sqlite_compute_the_median_in_python(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'grader.db'}"
    upgrade(url)
    with session_scope(get_session_factory(url)) as session:
        # Not q01: a migrated database already holds the default bank's questions.
        session.add(Question(id="t01", text="问题", current_hash="h"))
        session.add(ReferenceVersion(question_id="t01", content_hash="h", reference_answer="参考", key_points=[]))
        for i, score in enumerate([10.0, 20.0, 95.0, 100.0]):
            submission = Submission(id=uuid.uuid4(), candidate_id=f"c{i}", question_id="t01", answer="答",
                                    status=Status.GRADED.value, graded_at=datetime.now(UTC))
            session.add(submission)
            session.flush()
            session.add(Grade(submission_id=submission.id, question_id="t01", scoring_version="1",
                              reference_hash="h", embedder="e", calibration="c", score=score, confidence=0.9,
                              flags=["too_short"] if i == 0 else [], key_points=[], feedback="", signals={}))
            session.flush()
            index_result(session, submission)
        session.flush()
        [stats] = question_stats(session, StatsFilter())
    assert stats.count == 4 and stats.median == 57.5 and stats.mean == 56.25
    assert stats.histogram == [0, 1, 1, 0, 0, 0, 0, 0, 0, 2]
    assert stats.share_flagged == 0.25 and stats.mean_abs_override_delta is None
