"""Memory and CPU of parsing answer sheets within the parse budget (issue 13, hole 3).

Each case runs `parse_sheet` in a fresh Python process and reports its peak RSS (ru_maxrss), CPU seconds
(user + system), wall time and outcome:

- `bomb`: the probe's attack, a ~13 MB .xlsx whose shared strings unpack to ~300 MB (refused, 413);
- `bomb-old-limits`: a smaller bomb (`--old-mb`, 32 MB unpacked by default) parsed under the limits this
  replaced (300 MB unpacked, no cell or string budget), to show what the old path cost per MB;
- `largest`: the biggest workbook the budget takes (50,000 answers, the answer cap), parsed in full.

    .venv/bin/python bench/bench_sheets.py                 # all cases
    .venv/bin/python bench/bench_sheets.py --old-mb 64     # the old path on a bigger bomb
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(case: str, path: str) -> None:
    from grader.batches.parsing import MB, Limits, parse_sheet
    from grader.errors import GraderError
    from tests.support.sheets import QUESTIONS

    data = Path(path).read_bytes()
    limits = Limits()
    if case == "bomb-old-limits":
        limits = Limits(max_uncompressed_bytes=300 * MB, max_cell_elements=10**9, max_shared_strings=10**9)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    try:
        sheet = parse_sheet(data, QUESTIONS, filename="sheet.xlsx", limits=limits)
        outcome = f"parsed: {len(sheet.answers):,} answers, {len(sheet.errors):,} row errors"
    except GraderError as exc:
        outcome = f"{exc.status_code}: {exc.message}"
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        json.dumps(
            {
                "case": case,
                "file_mb": round(len(data) / MB, 1),
                "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
                "cpu_s": round(cpu, 2),
                "wall_s": round(wall, 2),
                "outcome": outcome,
            },
            ensure_ascii=False,
        )
    )


def largest(path: Path, answers: int) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("answers")
    sheet.append(["candidate_id", "question_id", "answer"])
    text = "自注意力让每个位置关注序列中的其他位置，多头从多个子空间学习不同的关系，位置编码提供顺序信息。"
    for i in range(answers):
        sheet.append([f"c{i // 12:05d}", f"q{i % 12 + 1:02d}", f"{text * 3} ({i})"])
    workbook.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--old-mb", type=int, default=32, help="unpacked MB of the bomb parsed under the old limits")
    parser.add_argument("--answers", type=int, default=50_000, help="answers in the largest accepted workbook")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from tests.support.sheets import shared_strings_bomb

    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "bomb": Path(tmp) / "bomb.xlsx",
            "bomb-old-limits": Path(tmp) / "old.xlsx",
            "largest": Path(tmp) / "largest.xlsx",
        }
        shared_strings_bomb(files["bomb"], unpacked_mb=300)
        shared_strings_bomb(files["bomb-old-limits"], unpacked_mb=args.old_mb)
        largest(files["largest"], args.answers)
        for case, path in files.items():
            result = subprocess.run(
                [sys.executable, __file__, "--child", case, str(path)], capture_output=True, text=True, check=True
            )
            print(result.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
