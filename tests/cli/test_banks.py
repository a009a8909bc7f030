"""`grader banks …` and `grader calibrate --bank` as a user runs them: real subprocesses on an embedded
SQLite database (migrated on first use, as `grader serve` does), errors by row and never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.processes import GRADER, grader_env, run

pytestmark = pytest.mark.slow  # real subprocesses, each loading the grader

EXTERNAL = Path(__file__).resolve().parents[2] / "eval" / "external"
LE = EXTERNAL / "le" / "questions.jsonl"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return grader_env(database_url=f"sqlite:///{tmp_path / 'banks.db'}", embedder="hash")


def refused(args: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run([GRADER, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    return " ".join(result.stderr.split())


def test_import_publish_list_diff_export(env: dict[str, str], tmp_path: Path) -> None:
    dry = run(["banks", "import", str(LE), "--bank", "le", "--dry-run"], env, tmp_path)
    assert "would import 100 questions" in " ".join(dry.stdout.split())
    listed = run(["banks", "list"], env, tmp_path).stdout
    assert "│ llm" in listed and "│ le " not in listed  # the dry run wrote nothing

    run(["banks", "import", str(LE), "--bank", "le", "--title", "物流"], env, tmp_path)
    assert "100 added" in " ".join(run(["banks", "diff", "le"], env, tmp_path).stdout.split())
    published = run(["banks", "publish", "le"], env, tmp_path).stdout
    assert "version 1 published" in published
    assert "no changes since version 1" in refused(["banks", "publish", "le"], env, tmp_path)
    graded = json.loads(run(["grade", "le-005", "运输、仓储和配送", "--json"], env, tmp_path).stdout)
    assert graded["question_id"] == "le-005" and 0 <= graded["score"] <= 100

    run(["banks", "export", "le", "-o", str(tmp_path / "le.yaml")], env, tmp_path)
    exported = yaml.safe_load((tmp_path / "le.yaml").read_text(encoding="utf-8"))
    assert exported["bank"] == "le" and exported["version"] == 1 and len(exported["questions"]) == 100
    again = run(["banks", "import", str(tmp_path / "le.yaml"), "--bank", "le", "--dry-run"], env, tmp_path).stdout
    assert "100 unchanged" in " ".join(again.split())
    # Embedded mode: a re-grade leaves the answers pending for the running server's sweep (none here).
    assert "queued 0 answers" in run(["banks", "regrade", "le"], env, tmp_path).stdout


def test_a_bad_file_is_refused_row_by_row(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "\n".join(
            [
                json.dumps({"question_id": "x-1", "question": "", "reference_answer": "a"}),
                json.dumps({"question_id": "x-2", "question": "fine?", "reference_answer": "fine"}),
                json.dumps({"question": "no answer"}),
            ]
        ),
        encoding="utf-8",
    )
    message = refused(["banks", "import", str(bad), "--bank", "x"], env, tmp_path)
    assert "row 1, question" in message and "row 3, reference_answer" in message
    assert "'x'" in refused(["banks", "publish", "x"], env, tmp_path)  # nothing was half-imported


def test_calibrate_a_bank_writes_an_unpublished_version_and_never_the_shipped_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    run(["banks", "import", str(LE), "--bank", "le", "--publish"], env, tmp_path)
    labelled = tmp_path / "train.jsonl"
    lines = (EXTERNAL / "le" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:60]
    labelled.write_text("\n".join(lines), encoding="utf-8")
    shipped = Path(__file__).resolve().parents[2] / "reference_answers" / "calibration.json"
    before = shipped.read_bytes()

    out = " ".join(run(["calibrate", "--bank", "le", str(labelled)], env, tmp_path).stdout.split())
    assert "60 labelled answers" in out and "before" in out and "after" in out
    assert "calibration version 1 (unpublished)" in out
    assert shipped.read_bytes() == before
    assert "1 " in run(["banks", "calibrations", "le"], env, tmp_path).stdout
    assert "calibration version 1" in run(["banks", "publish-calibration", "le", "1"], env, tmp_path).stdout
    assert "already published" in refused(["banks", "publish-calibration", "le", "1"], env, tmp_path)

    # A labelled file fits one bank; without a bank the fit has to be told where to go; answers outside
    # the bank are refused by row.
    assert "--bank" in refused(["calibrate", str(labelled)], env, tmp_path)
    assert "--write-shipped" in refused(["calibrate"], env, tmp_path)
    assert "--bank" in refused(["calibrate", "--from-reviews"], env, tmp_path)
    outside = tmp_path / "outside.jsonl"
    outside.write_text(json.dumps({"question_id": "q01", "answer": "x", "score": 3}), encoding="utf-8")
    assert "row 1, question_id" in refused(["calibrate", "--bank", "le", str(outside)], env, tmp_path)
    assert "40 more reviewed answers" in refused(["calibrate", "--bank", "le", "--from-reviews"], env, tmp_path)


def test_bank_listing_times_are_in_the_display_zone_and_say_which(env: dict[str, str], tmp_path: Path) -> None:
    # The dashboard's zone (GRADER_DISPLAY_TIMEZONE, Asia/Shanghai by default), named as the pages name it.
    listed = run(["banks", "list"], {**env, "COLUMNS": "200"}, tmp_path).stdout
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \(UTC\+8\)", listed), listed
    utc = run(["banks", "list"], {**env, "COLUMNS": "200", "GRADER_DISPLAY_TIMEZONE": "UTC"}, tmp_path).stdout
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \(UTC\)", utc), utc


def test_a_banks_diff_names_each_question_by_its_text_not_only_its_id(env: dict[str, str], tmp_path: Path) -> None:
    doc = tmp_path / "ops.md"
    doc.write_text("# 运维面试\n\n## 什么是蓝绿发布？\n两套环境切换流量。\n", encoding="utf-8")
    run(["banks", "import", str(doc), "--bank", "ops"], env, tmp_path)
    said = " ".join(run(["banks", "diff", "ops"], {**env, "COLUMNS": "200"}, tmp_path).stdout.split())
    assert "added" in said and "什么是蓝绿发布？" in said
    listed = run(["banks", "list"], {**env, "COLUMNS": "200"}, tmp_path).stdout
    assert "运维面试" in listed  # the document's title line
