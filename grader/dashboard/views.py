"""What the templates show, in Chinese: labels, times in the display zone (`GRADER_DISPLAY_TIMEZONE`,
Beijing time by default) always labelled with it, query-string handling for the queue.

Pure helpers (no database): the page handlers in `grader.dashboard.pages` call them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from grader.db.models import Status
from grader.review.results import ResultFilter
from grader.review.schemas import ResultSort
from grader.scoring.types import Flag
from grader.settings import display_zone

BEIJING = display_zone("Asia/Shanghai")  # the default display zone
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
PAGE_SIZE = 50

STATUS_LABELS = {
    "pending": "等待评分",
    "running": "评分中",
    "graded": "已评分",
    "failed": "评分失败",
    "needs_review": "待审核",
}
FLAG_LABELS = {
    Flag.OFF_TOPIC.value: "答非所问",
    Flag.KEYWORD_STUFFING.value: "堆砌关键词",
    Flag.NON_ANSWER.value: "未作答",
    Flag.TOO_SHORT.value: "回答过短",
    Flag.COPY_OF_REFERENCE.value: "疑似照抄",
    Flag.REPETITIVE.value: "重复凑字",
    Flag.CONFLICT.value: "疑似矛盾",
}
STATE_LABELS = {
    "covered": "已覆盖",
    "partial": "部分覆盖",
    "missed": "遗漏",
    "contradicted": "矛盾",
    "disputed": "疑似矛盾（计入得分，请核对）",
}
ACTION_LABELS = {
    "submission.created": "提交答案",
    "submission.graded": "机器评分",
    "result.reviewed": "人工审核",
    "submission.failed": "评分失败",
    "submission.requeued": "重新排队",
}
SORT_LABELS: dict[str, str] = {
    "confidence": "置信度从低到高",
    "-confidence": "置信度从高到低",
    "score": "最终分从低到高",
    "-score": "最终分从高到低",
    "-graded_at": "评分时间（新→旧）",
    "graded_at": "评分时间（旧→新）",
    "candidate": "候选人编号",
    "question": "题目",
}
VIEW_LABELS = {"needs_review": "待审核", "graded": "已评分", "all": "全部"}
REVIEWED_LABELS = {"": "不限", "yes": "已人工审核", "no": "未人工审核"}


def zone_label(value: datetime) -> str:
    """`UTC`, `UTC+8`, `UTC+5:30`, `UTC-3`: the offset of an aware time, as the label shown beside it."""
    offset = value.utcoffset() or timedelta(0)
    if not offset:
        return "UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def local_time(value: datetime | None, zone: tzinfo = BEIJING) -> str:
    """`2026-11-29 16:05 (UTC+8)`: every time on a page carries its zone."""
    if value is None:
        return "—"
    shown = value.astimezone(zone)
    return f"{shown:%Y-%m-%d %H:%M} ({zone_label(shown)})"


def score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def percent(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


@dataclass
class QueueQuery:
    """The queue's filters as they appear in the URL (so a view can be shared), parsed leniently: a bad
    value is reported on the page and ignored, never a bare 422."""

    values: dict[str, str]
    filters: ResultFilter
    sort: ResultSort
    page: int
    errors: list[str] = field(default_factory=list)

    def url(self, **changes: str | int | None) -> str:
        params = {**self.values, **{k: ("" if v is None else str(v)) for k, v in changes.items()}}
        return "/dashboard/queue?" + urlencode({k: v for k, v in params.items() if v})

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


FIELDS = (
    "view",
    "question",
    "batch",
    "candidate",
    "score_min",
    "score_max",
    "flag",
    "confidence_below",
    "graded_from",
    "graded_to",
    "reviewed",
    "sort",
    "page",
)


def parse_queue(params: dict[str, str], zone: tzinfo = BEIJING) -> QueueQuery:
    """The queue's URL parameters; dates are whole days in `zone` (the zone the pages show)."""
    values = {k: params.get(k, "").strip() for k in FIELDS if params.get(k, "").strip()}
    errors: list[str] = []

    def number(name: str, label: str, low: float, high: float) -> float | None:
        raw = values.get(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            errors.append(f"{label}应为 {low:g} 到 {high:g} 之间的数字，已忽略“{raw}”")
            values.pop(name)
            return None
        return value

    def day(name: str, label: str, end: bool) -> datetime | None:
        raw = values.get(name)
        if raw is None:
            return None
        try:
            # Only YYYY-MM-DD: fromisoformat alone would also take 20261129 or 2026-W48-7.
            if not DATE_RE.fullmatch(raw):
                raise ValueError(raw)
            parsed = date.fromisoformat(raw)
        except ValueError:
            errors.append(f"{label}应为 YYYY-MM-DD 格式的日期（如 2026-11-29），已忽略“{raw}”")
            values.pop(name)
            return None
        try:
            start = datetime.combine(parsed, time(0), zone)
            return (start + timedelta(days=1) if end else start).astimezone(UTC)
        except OverflowError:  # 0001-01-01 east of UTC is before year 1 in UTC; 9999-12-31 + 1 day is past 9999
            errors.append(f"{label}超出范围（应在 0001-01-02 到 9999-12-30 之间），已忽略“{raw}”")
            values.pop(name)
            return None

    view = values.get("view", "needs_review")
    if view not in VIEW_LABELS:
        errors.append(f"未知视图“{view}”")
        view = "needs_review"
        values.pop("view")
    batch_id = None
    if "batch" in values:
        try:
            batch_id = uuid.UUID(values["batch"])
        except ValueError:
            errors.append(f"批次编号格式不对，已忽略“{values.pop('batch')}”")
    flag = values.get("flag")
    if flag is not None and flag not in FLAG_LABELS:
        errors.append(f"未知标记“{values.pop('flag')}”")
        flag = None
    sort = values.get("sort", "confidence")
    if sort not in SORT_LABELS:
        errors.append(f"未知排序“{values.pop('sort')}”")
        sort = "confidence"
    reviewed = {"yes": True, "no": False}.get(values.get("reviewed", ""))
    try:
        page = max(int(values.get("page", "1")), 1)
    except ValueError:
        page = 1
    filters = ResultFilter(
        question_id=values.get("question"),
        batch_id=batch_id,
        candidate_id=values.get("candidate"),
        status=None if view == "all" else Status(view),
        score_min=number("score_min", "最低分", 0, 100),
        score_max=number("score_max", "最高分", 0, 100),
        flag=flag,
        confidence_below=number("confidence_below", "置信度上限", 0, 1),
        graded_from=day("graded_from", "开始日期", end=False),
        graded_to=day("graded_to", "结束日期", end=True),
        reviewed=reviewed,
    )
    if filters.score_min is not None and filters.score_max is not None and filters.score_min > filters.score_max:
        errors.append("最低分高于最高分，已忽略分数范围")
        values.pop("score_min")
        values.pop("score_max")
        filters = ResultFilter(**{**filters.__dict__, "score_min": None, "score_max": None})
    return QueueQuery(values, filters, sort, page, errors)  # type: ignore[arg-type]


def template_globals() -> dict[str, Any]:
    return {
        "STATUS_LABELS": STATUS_LABELS,
        "FLAG_LABELS": FLAG_LABELS,
        "STATE_LABELS": STATE_LABELS,
        "ACTION_LABELS": ACTION_LABELS,
        "SORT_LABELS": SORT_LABELS,
        "VIEW_LABELS": VIEW_LABELS,
        "REVIEWED_LABELS": REVIEWED_LABELS,
        "local_time": local_time,
        "score": score,
        "percent": percent,
    }
