"""Export escaping, the parts tests/batches/test_export.py does not vary: every text field a result row
carries (email, status, missed key points, error, submission id as well as name, feedback
and flags), several rows per candidate, every format and view, and leading whitespace or Unicode before
a trigger. Property: no CSV or XLSX cell can start a formula, and nothing is lost apart from the quote."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from grader.batches.export import FORMULA_TRIGGERS, AnswerResult, to_csv, to_xlsx

hostile = st.one_of(
    st.text(max_size=30),
    st.builds(lambda t, s: t + s, st.sampled_from(FORMULA_TRIGGERS), st.text(max_size=15)),
    st.builds(
        lambda p, t, s: p + t + s,
        st.sampled_from(["\n", " ", "\u3000", "\ufeff", "\u200b"]),
        st.sampled_from(FORMULA_TRIGGERS),
        st.text(max_size=10),
    ),
    st.sampled_from(
        ['=HYPERLINK("http://x","y")', "+SUM(1)", "-2+3", "@cmd", "=1=1", "\t=1", "\r=1", "＝1+1", "=cmd|' /C calc'!A0"]
    ),
)


def rows_strategy():
    one = st.builds(
        # Question ids come from the bank (they name the summary's columns), never from the sheet.
        AnswerResult,
        candidate_id=hostile.filter(str.strip),
        question_id=st.sampled_from(["q01", "q02", "q12"]),
        status=st.sampled_from(["graded", "needs_review", "failed", "pending"]),
        row=st.integers(2, 10_000),
        candidate_name=st.none() | hostile,
        candidate_email=st.none() | hostile,
        score=st.none() | st.floats(0, 100),
        confidence=st.none() | st.floats(0, 1),
        flags=st.lists(hostile, max_size=3),
        missed_key_points=st.lists(hostile, max_size=3),
        feedback=st.none() | hostile,
        error=st.none() | hostile,
        submission_id=st.none() | hostile,
    )
    return st.lists(one, min_size=1, max_size=4)


def _live(cell: str) -> bool:
    return cell.startswith(FORMULA_TRIGGERS)


@settings(max_examples=150, deadline=None)
@given(results=rows_strategy())
def test_no_csv_cell_in_any_view_starts_a_formula(results) -> None:
    for view in ("answers", "summary"):
        text = to_csv(results, view=view).decode("utf-8-sig")
        for row in list(csv.reader(io.StringIO(text, newline="")))[1:]:
            assert not any(_live(cell) for cell in row), row


@settings(max_examples=40, deadline=None)
@given(results=rows_strategy())
def test_no_xlsx_cell_in_either_sheet_is_a_formula(results) -> None:
    workbook = load_workbook(io.BytesIO(to_xlsx(results)))
    for sheet in workbook:
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.value)
                assert not (isinstance(cell.value, str) and _live(cell.value)), (sheet.title, cell.value)
