"""A scorecard and a ranking as CSV or XLSX, with the batch downloads' cell escaping (a candidate's name
or answer label that starts like a formula is written as text)."""

from __future__ import annotations

from typing import Literal

from grader.batches.export import csv_bytes, timestamp, xlsx_bytes
from grader.candidates.schemas import CandidatePage, Scorecard

Format = Literal["csv", "xlsx"]
Table = tuple[list[str], list[list[object]]]

STATUS = {"grading": "grading", "in_review": "in_review", "complete": "complete"}


def scorecard_table(card: Scorecard) -> Table:
    header = [
        "candidate_id",
        "candidate_name",
        "question_id",
        "question",
        "bank",
        "state",
        "score",
        "grader_score",
        "reviewer_score",
        "confidence",
        "flags",
        "key_points_covered",
        "graded_at",
        "submission_id",
    ]
    rows: list[list[object]] = [
        [
            card.candidate_id,
            card.candidate_name,
            q.question_id,
            q.question,
            q.bank,
            q.state,
            q.score,
            q.grader_score,
            q.reviewer_score,
            q.confidence,
            " ".join(q.flags),
            q.key_points_covered,
            timestamp(q.graded_at),
            str(q.submission_id),
        ]
        for q in card.questions
    ]
    standing = f"rank {card.standing.rank} of {card.standing.of}" if card.standing else None
    overall: list[object] = [card.candidate_id, card.candidate_name, "overall", None, None, card.status]
    overall += [card.overall_score, None, None, None, None, card.key_points_covered, None, standing]
    rows.append(overall)
    return header, rows


def ranking_table(page: CandidatePage) -> Table:
    header = [
        "rank",
        "candidate_id",
        "candidate_name",
        "status",
        "score",
        "partial_score",
        "answered",
        "pending",
        "in_review",
        "failed",
        "last_submitted_at",
    ]
    rows: list[list[object]] = [
        [
            c.rank,
            c.candidate_id,
            c.candidate_name,
            STATUS[c.status],
            c.score,
            c.partial_score,
            c.answered,
            c.pending,
            c.in_review,
            c.failed,
            timestamp(c.last_submitted_at),
        ]
        for c in page.items
    ]
    return header, rows


def render(table: Table, fmt: Format, sheet: str) -> bytes:
    header, rows = table
    return csv_bytes(header, rows) if fmt == "csv" else xlsx_bytes([(sheet, header, rows)])


MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
