"""`grader batch` on this machine (the embedded default, SQLite): what it says about the sheet it read."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.support.processes import embedded_env, run
from tests.support.sheets import csv_bytes

pytestmark = pytest.mark.slow


def test_local_batch_names_each_ignored_column_and_why_and_dates_each_grade(tmp_path: Path) -> None:
    sheet = tmp_path / "answers.csv"
    sheet.write_bytes(
        csv_bytes(
            [
                ("候选人编号", "姓名", "q01", "Q13"),
                ("c-1", "张三", "ChatGPT 优点是对话能力强，缺点是会有幻觉", "多出来的一列"),
            ]
        )
    )
    out = tmp_path / "results.csv"
    result = run(["batch", str(sheet), "-o", str(out)], embedded_env(tmp_path), tmp_path)
    said = " ".join(result.stderr.split())  # the terminal's wrapping undone
    assert "1 column ignored" in said
    assert "column 'Q13' ignored: no question 'Q13' in any published bank" in said
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 1 and rows[0]["graded_at"], rows  # every grade dated, with its offset
    assert rows[0]["graded_at"].endswith("+00:00")
