"""The fitted mapping from signals to a 0–100 score and a confidence, and how it is fitted.

A `Calibration` is plain numbers (see `grader.scoring.model` for the features and the two models):
standardisation, the score model's coefficients, the error model's coefficients and the expected
error above which an answer goes to a person. The shipped one (`reference_answers/calibration.json`)
is fitted across banks; a bank's own (`bank` set) is the shipped one refitted on that bank's labelled
answers, pulled towards the shipped coefficients so a few hundred answers cannot run away with it.
Its `version` carries a digest of the fitted numbers, so every grade pins the exact mapping.

Rubric caps apply only for flags measured to be right on every labelled set: today only `non_answer`
(an empty or "不知道" answer is worth nothing). The other flags send the answer to a person instead:
`off_topic`, `keyword_stuffing` and `too_short` were wrong on 25–100% of the answers they fired on in
ADS or LE (see `grader eval`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from grader.errors import GraderError
from grader.scoring import model
from grader.scoring.signals import Signals

__all__ = ["Calibration", "Signals", "cap_for", "confidence", "coverage", "credits", "expected_error", "final_score",
           "fit", "fit_own", "load_calibration", "save_calibration", "unfitted"]

DEFAULT_CAPS = {"non_answer": 0.0}
# Flags that route to review without capping (all flags do in the service; listed for reports).
KEYWORD_CREDIT_SHARE = 0.5  # of a key point's displayed credit, the rest from its similarity
ERROR_PENALTY = 10.0
OWN_PENALTY = 2.0  # pull of a bank's own fit towards the shipped coefficients
REVIEW_SHARE = 0.2  # of the answers the fit saw, the share with the highest expected error


class Calibration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    bank: str | None = None  # None: fitted across banks; else the bank whose own labels it was fitted on
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]  # [intercept, *features], on standardised features, logit of score/100
    error_coef: list[float]  # [intercept, 4p(1-p), *features]: expected |error| on the 0–10 scale
    review_error: float  # expected error above which confidence falls below 0.5
    caps: dict[str, float] = dict(DEFAULT_CAPS)
    fitted_on: str = ""
    fit_command: str = ""
    cv_metrics: dict[str, float] = {}

    def standardised(self, signals: Signals) -> np.ndarray:
        x = model.feature_vector(signals, self.features)
        z: np.ndarray = (x - np.array(self.mean)) / np.array(self.scale)
        return z

    def raw_score(self, signals: Signals) -> float:
        z = self.standardised(signals)
        return 100.0 * model.logistic(self.coef[0] + float(np.dot(self.coef[1:], z)))


def unfitted() -> Calibration:
    """Stand-in while measuring signals for a fit: signals do not depend on it, scores would."""
    names = list(model.FEATURES)
    return Calibration(version="unfitted", features=names, mean=[0.0] * len(names), scale=[1.0] * len(names),
                       coef=[0.0] * (len(names) + 1), error_coef=[1.0] + [0.0] * (len(names) + 1), review_error=2.0)


def load_calibration(path: Path) -> Calibration:
    try:
        return Calibration.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GraderError(f"calibration file {path} is missing; create it with `grader calibrate`") from None
    except ValueError as exc:
        raise GraderError(f"calibration file {path} is invalid: {exc}; refit with `grader calibrate`") from exc


def save_calibration(calibration: Calibration, path: Path) -> None:
    path.write_text(json.dumps(calibration.model_dump(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def credits(signals: Signals) -> list[float]:
    """Per key point, for people reading a grade: similarity ramp and keywords, nothing if contradicted."""
    span = model.SIM_CEILING - model.SIM_FLOOR
    return [
        0.0 if bad else (1 - KEYWORD_CREDIT_SHARE) * min(max((sim - model.SIM_FLOOR) / span, 0.0), 1.0)
        + KEYWORD_CREDIT_SHARE * share
        for sim, share, bad in zip(signals.similarities, signals.keyword_shares, signals.contradicted, strict=True)
    ]


def coverage(signals: Signals) -> float:
    return sum(w * c for w, c in zip(signals.weights, credits(signals), strict=True))


def contradicted_weight(signals: Signals) -> float:
    return sum(w for w, bad in zip(signals.weights, signals.contradicted, strict=True) if bad)


def cap_for(cal: Calibration, flags: Sequence[str]) -> float | None:
    caps = [cal.caps[f] for f in flags if f in cal.caps]
    return min(caps) if caps else None


def final_score(cal: Calibration, signals: Signals) -> float:
    """The 0–100 score: the fitted model, then the lowest rubric cap of any capping flag."""
    score = cal.raw_score(signals)
    cap = cap_for(cal, signals.flags)
    return score if cap is None else min(score, cap)


def _error_design(z: np.ndarray, scores: np.ndarray) -> np.ndarray:
    p = np.clip(scores / 100.0, 0.0, 1.0)
    return np.hstack([(4 * p * (1 - p))[:, None], z])


def expected_error(cal: Calibration, signals: Signals, score: float) -> float:
    """Expected absolute error (0–10 scale) of `score`, from the error model."""
    x = _error_design(cal.standardised(signals)[None, :], np.array([score]))[0]
    return max(cal.error_coef[0] + float(np.dot(cal.error_coef[1:], x)), 0.0)


def confidence(cal: Calibration, signals: Signals, score: float) -> float:
    """1 at no expected error, 0.5 at the review threshold, 0 at twice that. Non-answers are clear-cut."""
    if cap_for(cal, signals.flags) == 0.0 and score == 0.0:
        return 0.9
    value = 1.0 - 0.5 * expected_error(cal, signals, score) / max(cal.review_error, 1e-6)
    return round(min(max(value, 0.0), 1.0), 3)


# -- fitting ---------------------------------------------------------------------------------------


def _penalties(names: Sequence[str], shared: float, curated: float) -> np.ndarray:
    return np.array([0.0] + [shared if model.FEATURES[n][1] else curated for n in names])


def _labels(examples: Sequence[Signals]) -> np.ndarray:
    missing = [i for i, e in enumerate(examples) if e.label is None]
    if missing:
        raise GraderError(f"fitting needs a label on every example; {len(missing)} have none")
    return np.array([float(e.label or 0.0) for e in examples])


def _scores(coef: np.ndarray, z: np.ndarray, examples: Sequence[Signals], caps: dict[str, float]) -> np.ndarray:
    raw = 100.0 / (1.0 + np.exp(-np.clip(coef[0] + z @ coef[1:], -40, 40)))
    out = []
    for value, e in zip(raw, examples, strict=True):
        limits = [caps[f] for f in e.flags if f in caps]
        out.append(min([float(value), *limits]))
    return np.array(out)


def _fit_score(
    z: np.ndarray, labels: np.ndarray, weights: np.ndarray, names: Sequence[str], prior: np.ndarray | None,
) -> np.ndarray:
    if prior is None:
        penalty = _penalties(names, model.SHARED_PENALTY, model.CURATED_PENALTY)
    else:
        penalty = np.array([0.0] + [OWN_PENALTY] * len(names))
    return model.fit_logistic(z, labels / 10.0, weights, penalty, prior)


def _folds(n: int, folds: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[f::folds] for f in range(folds)]


def _digest(cal: Calibration) -> str:
    fitted = cal.model_dump_json(include={"features", "mean", "scale", "coef", "error_coef", "review_error", "caps"})
    return hashlib.sha256(fitted.encode()).hexdigest()[:8]


def _fit(
    examples: Sequence[Signals], banks: Sequence[str], *, version: str, fitted_on: str, fit_command: str,
    prior: Calibration | None, bank: str | None, folds: int, seed: int,
) -> Calibration:
    from grader.scoring.metrics import summarise

    names = list(prior.features) if prior else list(model.FEATURES)
    labels = _labels(examples)
    weights = model.bank_weights(banks)
    x = model.design(examples, names)
    if prior is None:
        mean, scale = model.standardise(x, weights)
    else:
        mean, scale = np.array(prior.mean), np.array(prior.scale)
    z = (x - mean) / scale
    start = np.array(prior.coef) if prior else None
    caps = dict(prior.caps) if prior else dict(DEFAULT_CAPS)

    # Cross-validated scores: what the error model learns from, and the reported metrics.
    predictions = np.zeros(len(examples))
    for test in _folds(len(examples), folds, seed):
        train = np.setdiff1d(np.arange(len(examples)), test)
        coef = _fit_score(z[train], labels[train], weights[train], names, start)
        predictions[test] = _scores(coef, z[test], [examples[i] for i in test], caps)
    errors = np.abs(predictions / 10.0 - labels)
    error_coef = model.fit_ridge(_error_design(z, predictions), errors, weights, ERROR_PENALTY)
    expected = np.maximum(np.hstack([np.ones((len(z), 1)), _error_design(z, predictions)]) @ error_coef, 0.0)
    order = np.argsort(-expected)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    review_error = float(expected[order][int(np.searchsorted(cumulative, REVIEW_SHARE))])

    coef = _fit_score(z, labels, weights, names, start)
    metrics: dict[str, float] = {}
    for name in sorted(set(banks)):
        rows = [i for i, b in enumerate(banks) if b == name]
        summary = summarise(predictions[rows].tolist(), labels[rows].tolist())
        metrics.update({f"cv_{name}_{k}": round(v, 4) for k, v in summary.items()})
    fitted = Calibration(
        version=version, bank=bank, features=names, mean=[float(v) for v in mean], scale=[float(v) for v in scale],
        coef=[float(v) for v in coef], error_coef=[float(v) for v in error_coef], review_error=review_error,
        caps=caps, fitted_on=fitted_on, fit_command=fit_command, cv_metrics=metrics,
    )
    return fitted.model_copy(update={"version": f"{version}+{_digest(fitted)}"})


def fit(
    examples: Sequence[Signals], banks: Sequence[str], *, version: str, fitted_on: str, fit_command: str,
    folds: int = 5, seed: int = 0,
) -> Calibration:
    """Across banks: each bank weighs the same; `banks[i]` names the bank of `examples[i]`.

    `cv_metrics` holds `folds`-fold cross-validated Spearman/QWK/MAE per bank.
    """
    return _fit(examples, banks, version=version, fitted_on=fitted_on, fit_command=fit_command, prior=None,
                bank=None, folds=folds, seed=seed)


def fit_own(
    examples: Sequence[Signals], shipped: Calibration, *, bank: str, version: str, fitted_on: str, fit_command: str,
    folds: int = 5, seed: int = 0,
) -> Calibration:
    """A bank's own calibration: the shipped model refitted on its labelled answers, pulled towards it."""
    return _fit(examples, [bank] * len(examples), version=version, fitted_on=fitted_on, fit_command=fit_command,
                prior=shipped, bank=bank, folds=folds, seed=seed)
