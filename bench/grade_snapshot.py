"""Snapshot every labelled set's signals and grades, or check the engine still produces them exactly.

    .venv/bin/python bench/grade_snapshot.py --write /tmp/before.pkl    # before a change
    .venv/bin/python bench/grade_snapshot.py --check /tmp/before.pkl    # after it: exit 1 on any difference

On a difference it also prints, per set, how many answers' scores moved and by how much.

For a change meant to leave every grade as it is (a speed-up): per labelled set (`evaluation.TRAINING` and the
test splits), the Signals `evaluation.measure` returns (what the calibration is fitted on) and the full
ScoreResult of `Grader.grade_many` in chunks of 50 (scores, confidences, key point states, evidence, feedback,
conflicts); on the dev set also one answer at a time (`Grader.grade`). Floats must agree within 1e-9, everything
else exactly.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from pathlib import Path
from typing import Any

from grader import evaluation as ev
from grader.grading.grader import get_grader

TOLERANCE = 1e-9
CHUNK = 50


def snapshot() -> dict[str, Any]:
    template = get_grader()
    sets = [(bank, path) for bank, path in ev.TRAINING]
    sets += [(bank, path) for bank, path in ev.TESTS if path != dict(ev.TRAINING)[bank]]
    out: dict[str, Any] = {}
    for bank, path in sets:
        name = f"{bank}:{path.name}"
        rows = ev.read_rows(path)
        grader = ev.grader_for(bank, template)
        signals = [s.model_dump() for s in ev.measure(grader, rows)]
        items = [(r.question_id, r.answer) for r in rows]
        graded = [g.model_dump() for i in range(0, len(items), CHUNK) for g in grader.grade_many(items[i : i + CHUNK])]
        out[name] = {"signals": signals, "grades": graded}
        if bank == "llm":
            out[name]["one_at_a_time"] = [grader.grade(q, a).model_dump() for q, a in items]
        print(f"{name}: {len(rows)} answers", file=sys.stderr)
    return out


def differences(before: Any, after: Any, where: str = "") -> list[str]:
    if isinstance(before, float) or isinstance(after, float):
        if isinstance(before, int | float) and isinstance(after, int | float):
            same = math.isclose(before, after, rel_tol=0.0, abs_tol=TOLERANCE) or (
                math.isnan(before) and math.isnan(after)
            )
            return [] if same else [f"{where}: {before!r} != {after!r}"]
        return [f"{where}: {before!r} != {after!r}"]
    if isinstance(before, dict) and isinstance(after, dict):
        if list(before) != list(after):
            return [f"{where}: keys {list(before)} != {list(after)}"]
        return [d for k in before for d in differences(before[k], after[k], f"{where}.{k}")]
    if isinstance(before, list | tuple) and isinstance(after, list | tuple):
        if len(before) != len(after):
            return [f"{where}: length {len(before)} != {len(after)}"]
        return [
            d for i, (b, a) in enumerate(zip(before, after, strict=True)) for d in differences(b, a, f"{where}[{i}]")
        ]
    return [] if before == after else [f"{where}: {before!r} != {after!r}"]


def score_moves(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Per set, how many answers' shown scores moved and by how much: what a change meant to move grades (a
    refitted calibration, new keywords) did, where `differences` only counts fields."""
    lines = []
    for name, now in after.items():
        if name not in before or len(before[name]["grades"]) != len(now["grades"]):
            lines.append(f"{name}: not comparable (not in the snapshot, or another number of answers)")
            continue
        deltas = [g["score"] - b["score"] for b, g in zip(before[name]["grades"], now["grades"], strict=True)]
        moved = [abs(d) for d in deltas if abs(d) > TOLERANCE]
        if not moved:
            lines.append(f"{name}: no score moved")
            continue
        lines.append(
            f"{name}: {len(moved)} of {len(deltas)} scores moved, mean {sum(moved) / len(moved):.1f}, "
            f"largest {max(moved):.1f} points; {sum(abs(d) >= 10 for d in deltas)} by 10 or more"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--check", type=Path)
    args = parser.parse_args()
    now = snapshot()
    if args.write:
        args.write.write_bytes(pickle.dumps(now))
        counts = ", ".join(f"{k} {len(v['grades'])}" for k, v in now.items())
        print(f"wrote {args.write}: {counts}")
        return
    before = pickle.loads(args.check.read_bytes())
    found = differences(before, now)
    for line in found[:40]:
        print(line)
    answers = sum(len(v["grades"]) for v in now.values())
    print(f"{len(found)} differences over {len(now)} sets, {answers} answers (signals, grades, dev one at a time)")
    if found:
        print("\n".join(score_moves(before, now)))
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
