"""Grading throughput of the engine with a warm model, against the embedder's raw encode speed.

    .venv/bin/python bench/bench_engine.py [--answers 1000] [--batch 50] [--cprofile out.prof]

Answers are the dev set's 120, repeated to `--answers` (dev-like length and language mix). Rates are
per CPU second of this process (the model runs single-threaded), so they hold on a busy machine;
wall-clock rates are printed beside them. Prints:
raw encode throughput (each answer embedded whole, one batch call per `--batch`), the engine's embedding
stage alone (each answer's spans, as `grade_many` embeds them: the ceiling of its rate), the scoring stage
alone (CPU ms an answer, answers embedded beforehand: what grading adds to the embedding), grading throughput
in batches (`Grader.grade_many`, what batch grading uses) and one at a time (`Grader.grade`, what an
interactive submission uses), their ratio to the raw encode, peak RSS, and the cold start of the
`grader grade` command (fresh process: imports, model load, reference embedding, one grade).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "eval" / "dev_set.jsonl"


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process). CPU time stays meaningful on a busy machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--cprofile", type=Path, help="write a cProfile of the grade_many pass to this file")
    args = parser.parse_args()

    from grader.grading.grader import build_grader
    from grader.scoring.engine import score_embedded
    from grader.scoring.reading import embed_answers
    from grader.settings import Settings

    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [(rows[i % len(rows)]["question_id"], rows[i % len(rows)]["answer"]) for i in range(args.answers)]
    answers = [a for _, a in items]
    chunks = [items[i : i + args.batch] for i in range(0, len(items), args.batch)]

    grader = build_grader(Settings())
    grader.prepared()
    # Warm: model loaded, and every question's per-reference work done (its claims, canonical forms, grams),
    # as in a worker that has graded a few answers to each; one answer per question. (Until 2026-12-05 the
    # first 20 answers, two questions: the other ten questions' first answers paid that work in the timed pass.)
    firsts = list({q: (q, a) for q, a in reversed(items)}.values())
    grader.grade_many(firsts)

    encode_wall, encode_cpu = timed(lambda: [grader.embedder.encode([a for _, a in c]) for c in chunks])
    # The engine's own embedding stage alone (each answer's spans, one model pass per answer): a ceiling for
    # grade_many, which adds the per-key-point scoring to it.
    embedded: list[Any] = []

    def embed_chunks() -> None:
        for c in chunks:
            embedded.extend(embed_answers([a for _, a in c], grader.embedder))

    _, spans_cpu = timed(embed_chunks)
    profile = cProfile.Profile() if args.cprofile else None
    if profile:
        profile.enable()
    batch_wall, batch_cpu = timed(lambda: [grader.grade_many(c) for c in chunks])
    if profile:
        profile.disable()
        profile.dump_stats(args.cprofile)  # read with: python -m pstats FILE, then `sort cumulative`, `stats 40`
    # The scoring stage alone (each answer scored against its question, embedded beforehand): what grade_many
    # adds to the embedding stage.
    prepared = grader.prepared()
    by_id = {p.reference.id: p for p in prepared}
    _, scoring_cpu = timed(
        lambda: [
            score_embedded(e, by_id[q], prepared, grader.calibration) for e, (q, _) in zip(embedded, items, strict=True)
        ]
    )
    single = items[: min(300, len(items))]
    single_wall, single_cpu = timed(lambda: [grader.grade(q, a) for q, a in single])
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cold = []
    for _ in range(args.cold_runs):
        start = time.perf_counter()
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "grader"), "grade", "q06", "温度越高输出越随机"],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        cold.append(time.perf_counter() - start)

    encode_rate, batch_rate = rate(len(answers), encode_cpu), rate(len(items), batch_cpu)
    single_rate = rate(len(single), single_cpu)
    report = {
        "answers": len(items),
        "raw_encode_answers_per_cpu_s": round(encode_rate, 1),
        "embed_spans_answers_per_cpu_s": round(rate(len(items), spans_cpu), 1),
        "embed_spans_ratio_to_encode": round(rate(len(items), spans_cpu) / encode_rate, 2),
        "scoring_alone_ms_per_answer": round(1000 * scoring_cpu / len(items), 2),
        "grade_many_answers_per_cpu_s": round(batch_rate, 1),
        "grade_many_ratio_to_encode": round(batch_rate / encode_rate, 2),
        "grade_one_at_a_time_answers_per_cpu_s": round(single_rate, 1),
        "grade_one_at_a_time_ratio_to_encode": round(single_rate / encode_rate, 2),
        "wall_answers_per_s": {
            "encode": round(rate(len(answers), encode_wall), 1),
            "grade_many": round(rate(len(items), batch_wall), 1),
            "grade_one_at_a_time": round(rate(len(single), single_wall), 1),
        },
        "peak_rss_mb": round(peak_rss_mb),
        "cold_start_grader_grade_s": [round(c, 2) for c in cold],
        "python": sys.version.split()[0],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
