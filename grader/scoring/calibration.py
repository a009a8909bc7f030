"""The mapping from raw signals to a 0–100 score, and how it is fitted.

Per key point, credit blends how close the best span is (cosine, rescaled between a floor and a
ceiling) with the share of its keywords present. The answer's coverage is the weighted sum of
credits; the score is a linear map of coverage and whole-answer similarity, clipped to 0–100.

The numbers live in `reference_answers/calibration.json`, written by `grader calibrate` (see
`fit`), never as constants in code. Caps from the interviewers' rubric (a keyword list gets at most
2/10, an off-topic answer 0) are rubric, not fit, and also live in that file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from grader.errors import GraderError


class Calibration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    sim_floor: float
    sim_ceiling: float
    keyword_weight: float  # share of a key point's credit that comes from its keywords
    intercept: float
    coverage_coef: float
    whole_coef: float
    contradiction_coef: float = 0.0  # per unit of key-point weight the answer contradicts
    # Rubric caps, on the 0–100 scale.
    cap_keyword_stuffing: float = 20.0
    cap_off_topic: float = 5.0
    cap_non_answer: float = 0.0
    cap_too_short: float = 40.0
    fitted_on: str = ""
    fit_command: str = ""
    cv_metrics: dict[str, float] = {}

    def key_point_credit(self, similarity: float, keyword_share: float) -> float:
        span = max(self.sim_ceiling - self.sim_floor, 1e-6)
        semantic = min(max((similarity - self.sim_floor) / span, 0.0), 1.0)
        return (1 - self.keyword_weight) * semantic + self.keyword_weight * keyword_share

    def raw_score(self, coverage: float, whole_similarity: float, contradicted_weight: float = 0.0) -> float:
        value = (self.intercept + self.coverage_coef * coverage + self.whole_coef * whole_similarity
                 + self.contradiction_coef * contradicted_weight)
        return min(max(100.0 * value, 0.0), 100.0)


def unfitted() -> Calibration:
    """Stand-in while measuring signals for a fit: signals do not depend on it, scores would."""
    return Calibration(version="unfitted", sim_floor=0.0, sim_ceiling=1.0, keyword_weight=0.5,
                       intercept=0.0, coverage_coef=1.0, whole_coef=0.0)


def load_calibration(path: Path) -> Calibration:
    try:
        return Calibration.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GraderError(f"calibration file {path} is missing; create it with `grader calibrate`") from None
    except ValueError as exc:
        raise GraderError(f"calibration file {path} is invalid: {exc}; refit with `grader calibrate`") from exc


def save_calibration(calibration: Calibration, path: Path) -> None:
    path.write_text(json.dumps(calibration.model_dump(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


class Signals(BaseModel):
    """What the engine measured in one answer, before calibration; `label` only when fitting."""

    model_config = ConfigDict(frozen=True)

    weights: list[float]
    similarities: list[float]
    keyword_shares: list[float]
    contradicted: list[bool]
    whole_similarity: float
    flags: list[str]
    label: float | None = None  # the interviewer's score, 0–10


def credits(cal: Calibration, signals: Signals) -> list[float]:
    return [
        0.0 if bad else cal.key_point_credit(sim, share)
        for sim, share, bad in zip(signals.similarities, signals.keyword_shares, signals.contradicted, strict=True)
    ]


def coverage(cal: Calibration, signals: Signals) -> float:
    return sum(w * c for w, c in zip(signals.weights, credits(cal, signals), strict=True))


def contradicted_weight(signals: Signals) -> float:
    return sum(w for w, bad in zip(signals.weights, signals.contradicted, strict=True) if bad)


def cap_for(cal: Calibration, flags: Sequence[str]) -> float | None:
    caps = [float(getattr(cal, f"cap_{flag}")) for flag in flags if hasattr(cal, f"cap_{flag}")]
    return min(caps) if caps else None


def final_score(cal: Calibration, signals: Signals) -> float:
    """The 0–100 score: calibrated coverage and similarity, then the lowest rubric cap of any flag."""
    score = cal.raw_score(coverage(cal, signals), signals.whole_similarity, contradicted_weight(signals))
    cap = cap_for(cal, signals.flags)
    return score if cap is None else min(score, cap)


def _design(examples: Sequence[Signals], floor: float, ceiling: float, kw: float) -> np.ndarray:
    probe = Calibration(version="probe", sim_floor=floor, sim_ceiling=ceiling, keyword_weight=kw,
                        intercept=0, coverage_coef=1, whole_coef=0)
    return np.array([[1.0, coverage(probe, e), e.whole_similarity, contradicted_weight(e)] for e in examples])


GRID_FLOOR = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
GRID_CEILING = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85)
GRID_KEYWORD = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8)


def _fit_linear(examples: Sequence[Signals]) -> tuple[tuple[float, float, float], np.ndarray, float]:
    """Best (floor, ceiling, keyword weight) by least squares on answers no rubric cap decides."""
    free = [e for e in examples if not e.flags]
    target = np.array([(e.label or 0.0) / 10.0 for e in free])
    best: tuple[tuple[float, float, float], np.ndarray, float] | None = None
    for floor, ceiling, kw in itertools.product(GRID_FLOOR, GRID_CEILING, GRID_KEYWORD):
        if ceiling <= floor + 0.1:
            continue
        x = _design(free, floor, ceiling, kw)
        coef, *_ = np.linalg.lstsq(x, target, rcond=None)
        error = float(np.mean((x @ coef - target) ** 2))
        if best is None or error < best[2]:
            best = ((floor, ceiling, kw), coef, error)
    assert best is not None
    return best


def fit(
    examples: Sequence[Signals],
    *,
    version: str,
    fitted_on: str,
    fit_command: str,
    folds: int = 5,
    seed: int = 0,
) -> Calibration:
    """Fit on all examples; report metrics from `folds`-fold cross-validation.

    The cross-validated metrics go through `final_score`, exactly what the engine outputs.
    """
    from grader.scoring.metrics import summarise

    def build(train: Sequence[Signals]) -> Calibration:
        (floor, ceiling, kw), coef, _ = _fit_linear(train)
        return Calibration(version=version, sim_floor=floor, sim_ceiling=ceiling, keyword_weight=kw,
                           intercept=float(coef[0]), coverage_coef=float(coef[1]), whole_coef=float(coef[2]),
                           contradiction_coef=float(coef[3]),
                           fitted_on=fitted_on, fit_command=fit_command)

    order = np.random.default_rng(seed).permutation(len(examples))
    predictions = np.zeros(len(examples))
    for fold in range(folds):
        test_idx = order[fold::folds]
        train = [examples[i] for i in order if i not in set(test_idx)]
        model = build(train)
        for i in test_idx:
            predictions[i] = final_score(model, examples[i])
    metrics = summarise(predictions.tolist(), [e.label or 0.0 for e in examples])
    final = build(examples)
    # The version names the fitted numbers too, so every grade's provenance pins the exact mapping.
    digest = hashlib.sha256(final.model_dump_json(include=_FITTED).encode()).hexdigest()[:8]
    return final.model_copy(update={
        "version": f"{version}+{digest}",
        "cv_metrics": {f"cv_{k}": round(v, 4) for k, v in metrics.items()},
    })


_FITTED = {"sim_floor", "sim_ceiling", "keyword_weight", "intercept", "coverage_coef", "whole_coef",
           "contradiction_coef"}
