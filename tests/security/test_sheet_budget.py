"""Hole 3 of issue 13: a 12 MB .xlsx whose shared strings unpack to ~300 MB (25:1, under the old 200:1
ratio and 300 MB total) cost 2.6 GB and minutes of API CPU. Now a workbook is held to a parse budget —
unpacked bytes (64 MB), cell elements (1,000,000) and shared strings (500,000), counted while streaming
before openpyxl reads it — and one over it is refused with a 413 that says why, before the work.

Memory is asserted (tracemalloc); time is not (bench/bench_sheets.py measures both)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from grader.batches.parsing import MB, Limits, parse_sheet
from grader.errors import UploadTooLarge
from tests.support.services import Keys, Server
from tests.support.sheets import LONG_ROWS, QUESTIONS, shared_strings_bomb, xlsx_bytes


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("sheets") / "bomb.xlsx"
    shared_strings_bomb(path, unpacked_mb=300)
    data = path.read_bytes()
    assert 8 * MB < len(data) < 20 * MB  # the probe's size class, under the 20 MB upload cap
    return data


def test_the_shared_strings_bomb_is_refused_before_it_is_unpacked(bomb: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(UploadTooLarge, match=r"unpacks to 29\d MB, over the 64 MB this server parses") as exc:
            parse_sheet(bomb, QUESTIONS, filename="bomb.xlsx")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.value.status_code == 413
    assert peak < 8 * MB, f"refusing the bomb allocated {peak / MB:.1f} MB"


def test_a_workbook_under_the_byte_budget_is_still_counted_while_streaming(tmp_path: Path) -> None:
    """Under the byte budget, the parts are still streamed and counted (1 MB at a time) before openpyxl
    sees them: 48 MB of shared strings holding ~45,000 texts stop at a 10,000-text budget."""
    path = tmp_path / "mid.xlsx"
    shared_strings_bomb(path, unpacked_mb=48)
    data = path.read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(UploadTooLarge, match="more than 10,000 distinct texts"):
            parse_sheet(data, QUESTIONS, limits=Limits(max_shared_strings=10_000))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MB, f"counting the parts allocated {peak / MB:.1f} MB"


def test_cell_and_string_budgets_are_413_with_the_reason(tmp_path: Path) -> None:
    data = xlsx_bytes(("answers", LONG_ROWS))  # openpyxl writes inline strings: cells only
    with pytest.raises(UploadTooLarge, match="more than 10 cells") as exc:
        parse_sheet(data, QUESTIONS, limits=Limits(max_cell_elements=10))
    assert exc.value.details == {"max_cell_elements": 10}
    assert parse_sheet(data, QUESTIONS).answers  # the default budget takes a real sheet
    shared_strings_bomb(tmp_path / "small.xlsx", unpacked_mb=1)  # ~950 shared strings
    with pytest.raises(UploadTooLarge, match="more than 100 distinct texts"):
        parse_sheet((tmp_path / "small.xlsx").read_bytes(), QUESTIONS, limits=Limits(max_shared_strings=100))


@pytest.mark.services
def test_the_server_answers_the_bomb_with_a_clear_413(open_api: Server, keys: Keys, bomb: bytes) -> None:
    with open_api.client(keys.recruiter) as client:
        reply = client.post(
            "/api/v1/batches",
            files={"file": ("answers.xlsx", bomb, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
        )
    assert reply.status_code == 413, reply.text
    error = reply.json()["error"]
    assert error["code"] == "upload_too_large" and "unpacks to 29" in error["message"]
    assert "CSV" in error["message"] and reply.headers["x-request-id"]
