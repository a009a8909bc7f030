"""Agreement between the grader (0–100) and interviewers (0–10): Spearman, QWK, MAE, and the errors review
leaves uncaught.

Plain numpy so the evaluation has no dependency beyond the core's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _ranks(values: Sequence[float]) -> np.ndarray:
    """Average ranks, ties sharing the mean of their positions (as scipy.stats.rankdata)."""
    array = np.asarray(values, dtype=float)
    order = np.argsort(array, kind="mergesort")
    ranks = np.empty(len(array))
    sorted_values = array[order]
    i = 0
    while i < len(array):
        j = i
        while j + 1 < len(array) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def quadratic_weighted_kappa(rater_a: Sequence[int], rater_b: Sequence[int], n_labels: int = 11) -> float:
    observed = np.zeros((n_labels, n_labels))
    for x, y in zip(rater_a, rater_b, strict=True):
        observed[x, y] += 1
    hist_a, hist_b = observed.sum(axis=1), observed.sum(axis=0)
    expected = np.outer(hist_a, hist_b) / max(observed.sum(), 1)
    idx = np.arange(n_labels)
    weights = (idx[:, None] - idx[None, :]) ** 2 / (n_labels - 1) ** 2
    denominator = float((weights * expected).sum())
    return 1.0 - float((weights * observed).sum()) / denominator if denominator else 1.0


def to_label(score_0_100: float) -> int:
    return int(min(max(round(score_0_100 / 10), 0), 10))


def summarise(scores_0_100: Sequence[float], labels_0_10: Sequence[float]) -> dict[str, float]:
    labels = [int(x) for x in labels_0_10]
    return {
        "spearman": spearman(scores_0_100, labels),
        "qwk": quadratic_weighted_kappa([to_label(s) for s in scores_0_100], labels),
        "mae": float(np.mean([abs(s / 10 - y) for s, y in zip(scores_0_100, labels, strict=True)])),
    }


def missed_errors(
    scores_0_100: Sequence[float], labels_0_10: Sequence[float], routed: Sequence[bool], big_error: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per answer, whether it was scored `big_error` points or more under the person's mark and not routed to
    review, and whether it was scored that much over it and not routed: what `grader eval` reports and what a
    bank's calibration proposal shows, read one way."""
    gaps = np.asarray(scores_0_100, dtype=float) / 10 - np.asarray(labels_0_10, dtype=float)
    unrouted = ~np.asarray(routed, dtype=bool)
    return (gaps <= -big_error) & unrouted, (gaps >= big_error) & unrouted


def review_figures(
    scores_0_100: Sequence[float],
    labels_0_10: Sequence[float],
    routed: Sequence[bool],
    big_error: float,
    correct_mark: float,
) -> dict[str, float]:
    """What a review queue catches, as shares of all answers: routed to review, off by `big_error` or more and not
    routed, and marked `correct_mark` or more but scored `big_error` lower and not routed (a good candidate marked
    down with nobody looking). A bank's calibration proposal and a fit's cross-validated figures read it so."""
    under, over = missed_errors(scores_0_100, labels_0_10, routed, big_error)
    correct = np.asarray(labels_0_10, dtype=float) >= correct_mark
    return {
        "review_share": float(np.mean(np.asarray(routed, dtype=bool))),
        "big_not_routed": float((under | over).mean()),
        "correct_sunk": float((under & correct).mean()),
    }
