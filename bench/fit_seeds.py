"""The leave-one-bank-out figures averaged over several seeds of the fit, with the mean score per kind of answer.

`grader calibrate --lobo` fits once (seed 0); the fit's cross-validation folds and its trees' subsamples move
Spearman by about ± 0.02 between seeds, so a change to the scoring is compared here over three seeds. Signals
are measured once (about 30 s) and can be kept (`--signals FILE`) to compare fits of the same signals.

    .venv/bin/python bench/fit_seeds.py                       # seeds 0,1,2, dev set 5-fold CV included
    .venv/bin/python bench/fit_seeds.py --seeds 0 --no-dev    # the figures `grader calibrate --lobo` prints

Lines: each interview bank left out of the fit; the ADS and LE test splits under a fit on every training set
(as the shipped one is); the LLM dev set 5-fold cross-validated. "missed" = off by >= 3 points and not routed
to review, as a share of all answers; in brackets the part of it scored under the person's mark. Per kind: the
issue-17 bars, on each interview bank left out, and the dev set's kinds of answer against their mean mark (terse
correct answers are scored about 10 points under theirs).
"""

from __future__ import annotations

import argparse
import pickle
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grader import evaluation as ev
from grader.grading.grader import get_grader
from grader.scoring import calibration as cal
from grader.scoring import fitting

INTERVIEW = ("fe", "jv", "ml")
BARS = {  # kind: (at most / at least, mean score 0-100)
    "off_topic_same_field": ("<=", 25),
    "wrong_confident": ("<=", 40),
    "negated": ("<=", 40),
    "long_rambling": ("<=", 40),
    "keyword_list": ("<=", 35),
    "excellent": (">=", 80),
    "good_different_angle": (">=", 80),
    "english_mixed": (">=", 80),
    "spoken": (">=", 65),
}
Measured = dict[str, tuple[list[ev.EvalRow], list[cal.Signals]]]


def measure_all() -> Measured:
    template = get_grader()
    out: Measured = {}
    for bank, path in ev.TRAINING:
        rows = ev.read_rows(path)
        out[bank] = (rows, ev.measure(ev.grader_for(bank, template), rows))
    for bank, path in ev.TESTS:
        if path != dict(ev.TRAINING)[bank]:
            rows = ev.read_rows(path)
            out[f"{bank}_test"] = (rows, ev.measure(ev.grader_for(bank, template), rows))
    return out


def _fit(data: Measured, banks: Sequence[str], seed: int) -> cal.Calibration:
    examples = [s for b in banks for s in data[b][1]]
    names = [b for b in banks for _ in data[b][1]]
    return fitting.fit(
        examples, names, version="bench", fitted_on="", fit_command="", seed=seed, bank_share=ev.BANK_SHARE
    )


def _line(report: ev.Report) -> tuple[float, ...]:
    metrics = report.metrics()
    _, missed = report.big_errors()
    under, _ = report.missed_by_direction()
    return metrics["spearman"], metrics["qwk"], metrics["mae"], report.review_share(), missed, under


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="fit seeds, comma-separated")
    parser.add_argument("--no-dev", action="store_true", help="skip the dev set's 5-fold CV (the slowest line)")
    parser.add_argument("--signals", type=Path, help="read measured signals from this file, or write them there")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.signals and args.signals.exists():
        data: Measured = pickle.loads(args.signals.read_bytes())
    else:
        data = measure_all()
        if args.signals:
            args.signals.write_bytes(pickle.dumps(data))
    training = [bank for bank, _ in ev.TRAINING]
    lines: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    kinds: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    dev_kinds: dict[str, list[float]] = defaultdict(list)
    for seed in seeds:
        for bank in INTERVIEW:
            rows, signals = data[bank]
            report = ev.report_from_signals(rows, signals, _fit(data, [b for b in training if b != bank], seed), {})
            lines[f"{bank} (left out)"].append(_line(report))
            for kind, mean in report.mean_by_label().items():
                kinds[kind][bank].append(mean)
        shipped = _fit(data, training, seed)
        for bank in ("ads_test", "le_test"):
            rows, signals = data[bank]
            lines[f"{bank} (all training sets)"].append(_line(ev.report_from_signals(rows, signals, shipped, {})))
        if not args.no_dev:
            rows, signals = data["llm"]
            others = {b: data[b][1] for b in training if b != "llm"}
            folds = ev.cross_validated(rows, signals, "llm", others, {}, 0.5, seed=seed + 1)
            lines["llm dev (5-fold CV)"].append(_line(folds["shipped"]))
            for label, mean in folds["shipped"].mean_by_label().items():
                dev_kinds[label].append(mean)
    print(f"seeds {seeds}: Spearman / QWK / MAE / review share / missed (of it scored under the mark), averaged")
    for name, values in lines.items():
        sp, qwk, mae, review, missed, under = np.mean(values, axis=0)
        print(
            f"  {name:28s} {sp:.3f} / {qwk:.3f} / {mae:.2f} / {100 * review:4.1f}% / {100 * missed:4.1f}%"
            f" ({100 * under:4.1f}%)"
        )
    print("mean score per kind, each interview bank left out (" + " / ".join(INTERVIEW) + "; x = bar not met)")
    for kind, (op, bar) in BARS.items():
        means = [float(np.mean(kinds[kind][bank])) for bank in INTERVIEW]
        marks = ["" if (m <= bar if op == "<=" else m >= bar) else " x" for m in means]
        print(f"  {kind:22s} {op} {bar}: " + " / ".join(f"{m:5.1f}{x}" for m, x in zip(means, marks, strict=True)))
    if dev_kinds:
        rows = data["llm"][0]
        print("mean score per kind, llm dev (5-fold CV), against the mean mark x 10")
        for label, means in dev_kinds.items():
            marked = [10 * (r.score or 0.0) for r in rows if (r.label or "(none)") == label]
            print(f"  {label:22s} {np.mean(means):5.1f}  (marked {np.mean(marked):5.1f})")


if __name__ == "__main__":
    main()
