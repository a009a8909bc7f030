"""Issue 18, item 7: what the first answer to a 5,000-question bank costs its grading task.

    .venv/bin/python bench/big_bank.py [--questions 5000] [--embedder use]

Builds a bank of N questions from the shipped curated bank (its 12 questions, each copied with a
numbered reference answer and id, so every copy has its own content hash and key points), then grades
one answer against it the way a worker does (`Grader.grade_planned` with the bank version as peers),
on a fresh grader (nothing prepared yet), and then a second answer to another question of the bank.
For comparison, preparing questions in full the old way (every key point's statements, reversals and
misconceptions embedded) is timed on 100 of them and scaled to N.
"""

from __future__ import annotations

import argparse
import time

from grader.grading.grader import GradingPlan, build_grader
from grader.questions.references import load_bank
from grader.scoring.types import Reference
from grader.settings import Settings


def big_bank(n: int) -> list[Reference]:
    base = list(load_bank().values())
    refs = []
    for i in range(n):
        ref = base[i % len(base)]
        refs.append(
            ref.model_copy(
                update={"id": f"bb-{i:05d}", "reference_answer": f"{ref.reference_answer}（第 {i} 题的版本）"}
            )
        )
    return refs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=5000)
    parser.add_argument("--embedder", default="use")
    args = parser.parse_args()
    refs = big_bank(args.questions)
    grader = build_grader(Settings(database_url="sqlite://", embedder=args.embedder))
    grader.embedder.encode(["warm up the model"])  # loading the model is not the bank's cost
    plan = GradingPlan(
        references={r.content_hash: r for r in refs},
        peers={r.content_hash: refs for r in refs},
        calibrations={r.content_hash: grader.calibration for r in refs},
    )
    answer = refs[0].reference_answer[:80]
    for label, ref in (("first answer", refs[0]), ("second answer, another question", refs[7]), ("third", refs[8])):
        started = time.perf_counter()
        result = grader.grade_planned(plan, [(ref.content_hash, answer)])[0]
        print(f"{label}: {time.perf_counter() - started:.2f} s (score {result.score})")
    old = build_grader(Settings(database_url="sqlite://", embedder=args.embedder))
    old.embedder.encode(["warm up"])
    started = time.perf_counter()
    old.prepare(big_bank(100))
    per = (time.perf_counter() - started) / 100
    print(f"old way, every question prepared in full: {per * 1000:.0f} ms a question -> {per * args.questions:.0f} s")


if __name__ == "__main__":
    main()
