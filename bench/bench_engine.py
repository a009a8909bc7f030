"""Grading throughput of the engine with a warm model, against the embedder's raw encode speed.

    .venv/bin/python bench/bench_engine.py [--answers 1000] [--batch 50]

Answers are the dev set's 120, repeated to `--answers` (dev-like length and language mix). Prints:
raw encode throughput (each answer embedded whole, one batch call per `--batch`), grading throughput
in batches (`Grader.grade_many`, what batch grading uses) and one at a time (`Grader.grade`, what an
interactive submission uses), their ratio to the raw encode, peak RSS, and the cold start of the
`grader grade` command (fresh process: imports, model load, reference embedding, one grade).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT.parent / "shared" / "eval" / "dev_set.jsonl"


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()

    from grader.grading import build_grader
    from grader.settings import Settings

    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [(rows[i % len(rows)]["question_id"], rows[i % len(rows)]["answer"]) for i in range(args.answers)]
    answers = [a for _, a in items]
    chunks = [items[i : i + args.batch] for i in range(0, len(items), args.batch)]

    grader = build_grader(Settings())
    grader.prepared()
    grader.grade_many(items[:20])  # warm: model loaded, caches filled

    start = time.perf_counter()
    for chunk in chunks:
        grader.embedder.encode([a for _, a in chunk])
    encode_rate = rate(len(answers), time.perf_counter() - start)

    start = time.perf_counter()
    for chunk in chunks:
        grader.grade_many(chunk)
    batch_rate = rate(len(items), time.perf_counter() - start)

    single = items[: min(300, len(items))]
    start = time.perf_counter()
    for question_id, answer in single:
        grader.grade(question_id, answer)
    single_rate = rate(len(single), time.perf_counter() - start)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cold = []
    for _ in range(args.cold_runs):
        start = time.perf_counter()
        subprocess.run([str(ROOT / ".venv" / "bin" / "grader"), "grade", "q06", "温度越高输出越随机"],
                       check=True, capture_output=True, cwd=ROOT)
        cold.append(time.perf_counter() - start)

    report = {
        "answers": len(items),
        "raw_encode_answers_per_s": round(encode_rate, 1),
        "grade_many_answers_per_s": round(batch_rate, 1),
        "grade_many_ratio_to_encode": round(batch_rate / encode_rate, 2),
        "grade_one_at_a_time_answers_per_s": round(single_rate, 1),
        "grade_one_at_a_time_ratio_to_encode": round(single_rate / encode_rate, 2),
        "peak_rss_mb": round(peak_rss_mb),
        "cold_start_grader_grade_s": [round(c, 2) for c in cold],
        "python": sys.version.split()[0],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
