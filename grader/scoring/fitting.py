"""Fitting a `Calibration`: across banks (the shipped one) or for one bank, pulled towards the shipped one.

Grading never imports this module: it reads a fitted `Calibration` (`grader.scoring.calibration`). The
ranking model and its residual trees, the label model, the pull of the shown score towards the ranking and
the review thresholds are fitted here, cross-validated, from `Signals` carrying their human labels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import ParamSpec, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from grader.errors import GraderError
from grader.scoring import model
from grader.scoring.calibration import (
    BIG_ERROR,
    CORRECT_MARK,
    DEFAULT_CAPS,
    Calibration,
    cap_for_caps,
    curated,
    decisions,
    digest,
    outside,
    review_flagged,
)
from grader.scoring.signals import Signals

LABEL_PENALTY = 10.0  # L2 of the label model's slopes, on standardised inputs (each bank weighing the same)
# Candidate pulls towards the ranking score (`model.decide`), weakest first; a fit takes the weakest that
# keeps every bank's cross-validated Spearman within SPEARMAN_SLACK of the ranking score's own.
PULLS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
SPEARMAN_SLACK = 0.01
OWN_PENALTY = 2.0  # pull of a bank's own fit towards the shipped coefficients
# Of each bank's answers the fit saw, at most this share is routed to review (flagged, or the highest
# big-error risk). The bar is 30% on every set; 2 points are kept as a margin.
REVIEW_SHARE = 0.28


def _penalties(names: Sequence[str], shared: float, curated: float) -> np.ndarray:
    return np.array([0.0] + [shared if model.FEATURES[n][1] else curated for n in names])


def _labels(examples: Sequence[Signals]) -> np.ndarray:
    missing = [i for i, e in enumerate(examples) if e.label is None]
    if missing:
        raise GraderError(f"fitting needs a label on every example; {len(missing)} have none")
    return np.array([float(e.label or 0.0) for e in examples])


def _fit_score(
    z: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    names: Sequence[str],
    prior: Calibration | None,
) -> tuple[np.ndarray, list[model.Tree]]:
    """The linear predictor's coefficients and the residual trees. A bank's own fit keeps the shipped trees
    and refits only the coefficients around them, pulled towards the shipped ones: a few hundred answers
    are enough to move a level and a few weights, not to grow trees."""
    if prior is None:
        penalty = _penalties(names, model.SHARED_PENALTY, model.CURATED_PENALTY)
        coef = model.fit_logistic(z, labels / 10.0, weights, penalty)
        return coef, model.fit_trees(z, labels / 10.0, weights, coef[0] + z @ coef[1:])
    offset = model.trees_predict(prior.trees, z)
    penalty = np.array([0.0] + [OWN_PENALTY] * len(names))
    return model.fit_logistic(z, labels / 10.0, weights, penalty, np.array(prior.coef), offset), list(prior.trees)


def _predictor(coef: np.ndarray, trees: Sequence[model.Tree], z: np.ndarray) -> np.ndarray:
    out: np.ndarray = coef[0] + z @ coef[1:] + model.trees_predict(trees, z)
    return out


def _folds(n: int, folds: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[f::folds] for f in range(folds)]


def review_threshold(risk: np.ndarray, flagged: np.ndarray, weights: np.ndarray, share: float) -> float:
    """The lowest risk at which the routed share (risk at or above it, or flagged), weighted, stays <= share."""
    order = np.argsort(-risk, kind="stable")
    base = float(weights[flagged].sum())
    extra = np.cumsum(np.where(flagged[order], 0.0, weights[order]))
    routed = (base + extra) / weights.sum()
    allowed = np.flatnonzero(routed <= share)
    if not len(allowed):
        return 1.0  # the flags alone fill the queue
    k = int(allowed[-1])
    # Ties: a risk equal to the threshold is routed, so stop before a tie that would overflow.
    while k >= 0 and k + 1 < len(order) and risk[order[k + 1]] == risk[order[k]]:
        k -= 1
    return float(np.nextafter(risk[order[k]], -1.0)) if k >= 0 else 1.0


def _fit_labels(x: np.ndarray, labels: np.ndarray, weights: np.ndarray, prior: Calibration | None) -> np.ndarray:
    """The label model; a bank's own is pulled towards the shipped one's coefficients."""
    prior_coef = np.array(prior.label_coef) if prior else None
    coef: np.ndarray = model.fit_multinomial(x, labels, weights, LABEL_PENALTY, prior_coef)
    return coef


def _pull(
    probabilities: np.ndarray,
    anchors: np.ndarray,
    examples: Sequence[Signals],
    labels: np.ndarray,
    banks: Sequence[str],
    caps: dict[str, float],
) -> float:
    """The weakest pull towards the ranking that keeps each bank's Spearman within SPEARMAN_SLACK of the
    ranking score's (cross-validated): the decision may move scores to where marks are, not reorder them."""
    from grader.scoring.metrics import spearman

    rows = {name: np.array([b == name for b in banks]) for name in sorted(set(banks))}
    ranking = {name: spearman(list(anchors[r]), list(labels[r])) for name, r in rows.items()}
    for pull in PULLS:
        shown = decisions(probabilities, anchors, examples, caps, pull)
        if all(spearman(list(shown[r]), list(labels[r])) >= ranking[name] - SPEARMAN_SLACK for name, r in rows.items()):
            return pull
    return PULLS[-1]


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_blas_thread(fitting: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a fit with one BLAS thread, so the same signals give the same calibration whatever the core count.

    With two threads a matrix product sums in another order; the last bits that changed were enough to
    turn a residual tree's split and the review threshold (jv left out: Spearman 0.902 with two threads,
    0.899 with one, from the same signals), so `grader calibrate` printed figures that hung on the core count.
    """

    @functools.wraps(fitting)
    def pinned(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with threadpool_limits(limits=1, user_api="blas"):
            return fitting(*args, **kwargs)

    return pinned


@_one_blas_thread
def _fit(
    examples: Sequence[Signals],
    banks: Sequence[str],
    *,
    version: str,
    fitted_on: str,
    fit_command: str,
    prior: Calibration | None,
    bank: str | None,
    folds: int,
    seed: int,
    bank_share: Mapping[str, float] | None = None,
) -> Calibration:
    from grader.scoring.metrics import review_figures, summarise

    names = list(prior.features) if prior else list(model.FEATURES)
    labels = _labels(examples)
    weights = model.bank_weights(banks, bank_share)
    x = model.design(examples, names)
    if prior is None:
        mean, scale = model.standardise(x, weights)
    else:
        mean, scale = np.array(prior.mean), np.array(prior.scale)
    z = (x - mean) / scale
    caps = dict(prior.caps) if prior else dict(DEFAULT_CAPS)
    split = _folds(len(examples), folds, seed)

    # Cross-validated ranking scores: what the level and the label model learn from.
    linear = np.zeros(len(examples))
    for test in split:
        train = np.setdiff1d(np.arange(len(examples)), test)
        coef, trees = _fit_score(z[train], labels[train], weights[train], names, prior)
        linear[test] = _predictor(coef, trees, z[test])
    capped = np.array([cap_for_caps(caps, e.flags) == 0.0 for e in examples])
    level = model.fit_level(linear, labels, weights, capped, BIG_ERROR)
    anchors = 100.0 * model.sigmoid(level[0] + level[1] * linear)
    x_labels = model.label_design(z, anchors / 100.0)

    # Cross-validated label probabilities: the pull, the review thresholds and the reported metrics.
    probabilities = np.zeros((len(examples), len(model.LABELS)))
    for test in split:
        train = np.setdiff1d(np.arange(len(examples)), test)
        probabilities[test] = model.label_probabilities(
            _fit_labels(x_labels[train], labels[train], weights[train], prior), x_labels[test]
        )
    pull = _pull(probabilities, anchors, examples, labels, banks, caps)
    predictions = decisions(probabilities, anchors, examples, caps, pull)
    risk = outside(probabilities, predictions / 10.0)
    flagged = np.array([review_flagged(e.flags, caps) for e in examples])
    # The lowest threshold at which no bank sends more than REVIEW_SHARE of its answers to review
    # (a threshold on the pooled share let the bank with the most big errors take 33%), one for banks of
    # curated key points and one for generated ones: with one threshold for all, the curated LLM bank (6% big
    # errors) filled its queue first and held the generated banks (ADS: 19% big errors) at 23-25%.
    kinds = np.array([curated(e) for e in examples])
    per_bank = {
        name: review_threshold(risk[rows], flagged[rows], weights[rows], REVIEW_SHARE)
        for name, rows in ((n, np.array([b == n for b in banks])) for n in sorted(set(banks)))
    }
    kind_of = {name: bool(kinds[[i for i, b in enumerate(banks) if b == name]].mean() >= 0.5) for name in per_bank}
    generated = [t for n, t in per_bank.items() if not kind_of[n]]
    by_curated = [t for n, t in per_bank.items() if kind_of[n]]
    review_risk = max(generated or by_curated)
    review_risk_curated = max(by_curated) if by_curated else None
    threshold = np.where(kinds, review_risk_curated if review_risk_curated is not None else review_risk, review_risk)

    coef, trees = _fit_score(z, labels, weights, names, prior)
    label_coef = _fit_labels(x_labels, labels, weights, prior)
    metrics: dict[str, float] = {}
    # What review would catch, read as `grader eval` reads it (`metrics.review_figures`). Cross-validated fold
    # predictions are not settled (`calibration.settle` needs a fitted calibration): a disputed conflict is read
    # as the contradiction the signals hold, and a swap does not route.
    routed = (risk >= threshold) | flagged
    for name in sorted(set(banks)):
        rows = [i for i, b in enumerate(banks) if b == name]
        scores, marks = predictions[rows].tolist(), labels[rows].tolist()
        figures = {
            **summarise(scores, marks),
            **review_figures(scores, marks, routed[rows].tolist(), BIG_ERROR, CORRECT_MARK),
        }
        metrics.update({f"cv_{name}_{k}": round(v, 4) for k, v in figures.items()})
    fitted = Calibration(
        version=version,
        bank=bank,
        features=names,
        mean=[float(v) for v in mean],
        scale=[float(v) for v in scale],
        coef=[float(v) for v in coef],
        trees=trees,
        level=[float(v) for v in level],
        label_coef=[[float(v) for v in row] for row in label_coef],
        decision_pull=pull,
        review_risk=review_risk,
        review_risk_curated=review_risk_curated,
        caps=caps,
        fitted_on=fitted_on,
        fit_command=fit_command,
        cv_metrics=metrics,
    )
    return fitted.model_copy(update={"version": f"{version}+{digest(fitted)}"})


def fit(
    examples: Sequence[Signals],
    banks: Sequence[str],
    *,
    version: str,
    fitted_on: str,
    fit_command: str,
    folds: int = 5,
    seed: int = 0,
    bank_share: Mapping[str, float] | None = None,
) -> Calibration:
    """Across banks: each bank weighs the same (or as `bank_share` says); `banks[i]` names the bank of
    `examples[i]`.

    `cv_metrics` holds `folds`-fold cross-validated Spearman/QWK/MAE per bank.
    """
    return _fit(
        examples,
        banks,
        version=version,
        fitted_on=fitted_on,
        fit_command=fit_command,
        prior=None,
        bank=None,
        folds=folds,
        seed=seed,
        bank_share=bank_share,
    )


def fit_own(
    examples: Sequence[Signals],
    shipped: Calibration,
    *,
    bank: str,
    version: str,
    fitted_on: str,
    fit_command: str,
    folds: int = 5,
    seed: int = 0,
) -> Calibration:
    """A bank's own calibration: the shipped model refitted on its labelled answers, pulled towards it."""
    return _fit(
        examples,
        [bank] * len(examples),
        version=version,
        fitted_on=fitted_on,
        fit_command=fit_command,
        prior=shipped,
        bank=bank,
        folds=folds,
        seed=seed,
    )
