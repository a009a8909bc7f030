"""The dashboard's pure helpers: answer highlighting and the queue's query string."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from grader.dashboard.highlight import Run, segments, state_of
from grader.dashboard.views import local_time, parse_queue
from grader.db.models import Status
from grader.settings import Settings, display_zone

ANSWER = "多头注意力把向量拆开。每个头学不同的特征。最后拼接。"


def kp(kp_id: str, credit: float, start: int | None = None, end: int | None = None, contradicted: bool = False):
    evidence = None if start is None else {"start": start, "end": end, "text": ANSWER[start:end]}
    return {"id": kp_id, "credit": credit, "contradicted": contradicted, "evidence": evidence}


def test_a_recorded_state_is_shown_as_the_engine_decided_it() -> None:
    assert state_of({**kp("kp1", 0.9), "state": "disputed"}) == "disputed"
    assert state_of({**kp("kp1", 0.9), "state": "missed"}) == "missed"


def test_grades_recorded_before_states_existed_derive_theirs_from_the_feedback_thresholds() -> None:
    assert state_of(kp("kp1", 0.9)) == "covered"
    assert state_of(kp("kp1", 0.3)) == "partial"
    assert state_of(kp("kp1", 0.1)) == "missed"
    assert state_of(kp("kp1", 0.9, contradicted=True)) == "contradicted"


def test_segments_cover_the_answer_exactly_and_mark_overlaps_by_severity() -> None:
    runs = segments(
        ANSWER,
        [kp("kp1", 0.9, 0, 10), kp("kp2", 0.4, 5, 21), kp("kp3", 0.0, 11, 21, contradicted=True), kp("kp4", 0.1, 0, 5)],
    )
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


def test_queue_query_keeps_good_values_and_reports_bad_ones() -> None:
    q = parse_queue(
        {
            "view": "all",
            "question": "q03",
            "score_min": "x",
            "score_max": "80",
            "flag": "off_topic",
            "graded_from": "2026-11-29",
            "graded_to": "nope",
            "sort": "-score",
            "page": "3",
        }
    )
    assert q.filters.status is None and q.filters.question_id == "q03" and q.filters.score_max == 80
    assert q.filters.score_min is None and q.filters.graded_to is None
    # A Beijing-time day starts at 16:00 UTC the day before.
    assert q.filters.graded_from == datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    assert q.sort == "-score" and q.page == 3 and q.offset == 100
    assert len(q.errors) == 2
    assert "score_min" not in q.url() and "question=q03" in q.url(page=1)
    default = parse_queue({})
    assert default.filters.status == Status.NEEDS_REVIEW and default.sort == "confidence" and not default.errors


def test_every_time_shown_carries_its_zone() -> None:
    at = datetime(2026, 11, 29, 8, 5, tzinfo=UTC)
    assert local_time(at) == "2026-11-29 16:05 (UTC+8)"  # the default, Asia/Shanghai
    assert local_time(at, display_zone("UTC")) == "2026-11-29 08:05 (UTC)"
    assert local_time(at, display_zone("UTC+5:30")) == "2026-11-29 13:35 (UTC+5:30)"
    assert local_time(at, display_zone("America/Sao_Paulo")) == "2026-11-29 05:05 (UTC-3)"
    assert local_time(None) == "—"


def test_the_display_zone_is_a_setting_checked_at_start() -> None:
    assert Settings(display_timezone="UTC").display_timezone == "UTC"
    assert Settings().display_timezone == "Asia/Shanghai"
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(display_timezone="Mars/Olympus")


def test_date_filters_take_yyyy_mm_dd_only_and_say_so() -> None:
    q = parse_queue({"graded_from": "11/29/2026", "graded_to": "20261130"})
    assert q.filters.graded_from is None and q.filters.graded_to is None
    assert q.errors == [
        "开始日期应为 YYYY-MM-DD 格式的日期（如 2026-11-29），已忽略“11/29/2026”",
        "结束日期应为 YYYY-MM-DD 格式的日期（如 2026-11-29），已忽略“20261130”",
    ]
    # Days are whole days in the display zone.
    utc = parse_queue({"graded_from": "2026-11-29"}, display_zone("UTC"))
    assert utc.filters.graded_from == datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
