"""Features that mean the same in any bank, and the two small models fitted on them.

Score: a fractional logistic regression (target = human score / 10) on standardised features, L2
regularised, each bank weighing the same in the fit whatever its size. Signals of generated key
points and lexical overlap are shared by every bank and strongly regularised (a fit on one bank's
quirks did not carry to the others: leave-one-bank-out); signals of key points a person curated
(keywords with aliases, checked misconceptions, flags that were measured to hold on such a bank)
get their own, lightly regularised weights, so a curated bank is graded by what its curation adds.

The score is then placed by a monotone map of its linear predictor (`fit_level`) that leaves the fewest
answers off by 3 points or more: labels pile up at 0 and full marks, a mean sits in between.

Placement and confidence: a label model, a multinomial logistic regression of the person's mark (0-10)
on the features and the ranking score, fitted on cross-validated ranking scores. It gives, per answer,
the probability of each mark. The score shown is the one most likely to be within 3 points of the mark,
held near the ranking score (`decide`): where marks pile up at 0 and full marks, a score between them is
off by a lot from both. Its risk of a big error is the probability left outside that window, so a low
confidence means "people mark answers like this in ways 3+ points apart", not a rule of thumb.

Pure numpy; everything a fit produces is a plain list of floats, stored in the calibration file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from grader.scoring.signals import Signals

# Where a key point's cosine starts and stops counting, for the per-key-point credit shown to people.
SIM_FLOOR, SIM_CEILING = 0.4, 0.75


def _weighted(signals: Signals, values: Sequence[float], curated: bool | None) -> float:
    total = 0.0
    marks = signals.curated or [False] * len(signals.weights)
    counts = signals.counted or [not bad for bad in signals.contradicted]
    for weight, value, counted, is_curated in zip(signals.weights, values, counts, marks, strict=True):
        if curated is None or is_curated == curated:
            total += weight * (value if counted else 0.0)
    return total


def _curated_share(s: Signals) -> float:
    marks = s.curated or [False] * len(s.weights)
    return sum(w for w, c in zip(s.weights, marks, strict=True) if c)


def _contradicted(s: Signals, curated: bool = True) -> float:
    """Weight of the key points found contradicted, of those a person curated (or of the generated ones)."""
    marks = s.curated or [False] * len(s.weights)
    return sum(w for w, bad, c in zip(s.weights, s.contradicted, marks, strict=True) if bad and c == curated)


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _flag(name: str) -> Callable[[Signals], float]:
    return lambda s: _curated_share(s) * float(name in s.flags)


# name -> (function, shared?). Shared features are strongly regularised, curated ones lightly.
FEATURES: dict[str, tuple[Callable[[Signals], float], bool]] = {
    "keywords_generated": (lambda s: _weighted(s, s.keyword_shares, False), True),
    "contradicted_generated": (lambda s: _contradicted(s, curated=False), True),
    "whole_similarity": (lambda s: s.whole_similarity, True),
    "bigram_recall": (lambda s: s.bigram_recall, True),
    "token_recall": (lambda s: s.token_recall, True),
    "term_recall": (lambda s: s.term_recall, True),
    "term_recall_sqrt": (lambda s: math.sqrt(s.term_recall), True),
    "question_similarity": (lambda s: s.question_similarity, True),
    "own_margin": (lambda s: s.own_margin, True),
    "claim_novel_share": (lambda s: s.claim_novel / max(s.answer_clauses, 1), True),
    "claim_negated": (lambda s: float(min(s.claim_negated, 3)), True),
    "claim_negated_share": (lambda s: s.claim_negated / max(s.answer_clauses, 1), True),
    # Counted up to two: swaps are rare in the training banks, so a count of three stood 8.7 standard
    # deviations out and sank a complete answer to a question made of enumerations (isolation levels against
    # their anomalies: every key point covered) to 37.
    "claim_swapped": (lambda s: float(min(s.claim_swapped, 2)), True),
    "verdict_agrees": (lambda s: float(s.verdict > 0), True),
    "verdict_opposed": (lambda s: float(s.verdict < 0), True),
    "expression_precision": (lambda s: s.expression_precision, True),
    "states_result": (lambda s: float(s.states_result), True),
    "bigram_f1": (lambda s: s.bigram_f1, True),
    "bigram_precision": (lambda s: s.bigram_precision, True),
    "novel_recall": (lambda s: s.novel_recall, True),
    "novel_recall_sqrt": (lambda s: math.sqrt(s.novel_recall), True),  # the first points covered count most
    "novel_precision": (lambda s: s.novel_precision, True),
    "novel_f1": (lambda s: _f1(s.novel_precision, s.novel_recall), True),
    "opposite_swaps": (lambda s: float(min(s.opposite_swaps, 2)), True),
    "length_ratio": (lambda s: min(max(math.log((1 + s.answer_chars) / (1 + s.reference_chars)), -3.0), 1.5), True),
    "answer_length": (lambda s: math.log(1 + s.answer_chars), True),
    "other_script": (lambda s: s.other_script, True),  # English answers to Chinese references: overlaps undercount
    "keywords_curated": (lambda s: _weighted(s, s.keyword_shares, True), False),
    "similarity_curated": (lambda s: _weighted(s, s.similarities, True), False),
    "contradicted_curated": (_contradicted, False),
    "curated": (_curated_share, False),
    "off_topic_curated": (_flag("off_topic"), False),
    "keyword_stuffing_curated": (_flag("keyword_stuffing"), False),
    "keyword_presence_curated": (lambda s: _curated_share(s) * s.keyword_presence, False),
}
SHARED_PENALTY = 10.0
CURATED_PENALTY = 1.0


def feature_vector(signals: Signals, names: Sequence[str]) -> np.ndarray:
    return np.array([FEATURES[n][0](signals) for n in names], dtype=float)


def design(examples: Sequence[Signals], names: Sequence[str]) -> np.ndarray:
    return np.array([feature_vector(e, names) for e in examples], dtype=float).reshape(len(examples), len(names))


def bank_weights(banks: Sequence[str], share: Mapping[str, float] | None = None) -> np.ndarray:
    """Each bank weighs the same in a fit, whatever its number of answers (mean weight 1), or as much as
    `share` says relative to the others (1 where it says nothing)."""
    counts: dict[str, int] = {}
    for b in banks:
        counts[b] = counts.get(b, 0) + 1
    weights = np.array([(share or {}).get(b, 1.0) / counts[b] for b in banks])
    normalised: np.ndarray = weights / weights.mean()
    return normalised


def standardise(x: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.average(x, axis=0, weights=weights)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weights))
    return mean, np.where(scale > 1e-9, scale, 1.0)


def _damped_step(
    objective: Callable[[np.ndarray], float], coef: np.ndarray, step: np.ndarray, current: float
) -> tuple[np.ndarray, float, float]:
    """A Newton step halved until the objective falls (at most to 1e-4 of it): (new coefficients, their
    objective, the largest change made)."""
    size = 1.0
    while size > 1e-4 and objective(coef - size * step) > current:
        size /= 2
    moved = size * step
    updated = coef - moved
    return updated, objective(updated), float(np.abs(moved).max())


def fit_logistic(
    z: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray,
    penalty: np.ndarray,
    prior: np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """Coefficients [intercept, *features] of a fractional logistic regression, by Newton steps.

    `penalty` per coefficient (the intercept's is normally 0) pulls towards `prior` (default 0); `offset`
    (per row, in the logit) is a fixed part of the predictor, such as residual trees kept as they are.
    """
    design_matrix = np.hstack([np.ones((len(z), 1)), z])
    centre = np.zeros(design_matrix.shape[1]) if prior is None else np.asarray(prior, dtype=float)
    coef = centre.copy()
    ridge = np.diag(penalty)
    shift = 0.0 if offset is None else offset

    def objective(c: np.ndarray) -> float:
        logit = design_matrix @ c + shift
        # Cross-entropy written with logaddexp: no log(0) where a fit separates the labels.
        loss = weights @ (np.logaddexp(0.0, logit) - target * logit)
        return float(loss) + 0.5 * float((c - centre) @ ridge @ (c - centre))

    current = objective(coef)
    for _ in range(100):
        p = sigmoid(design_matrix @ coef + shift)
        gradient = design_matrix.T @ (weights * (p - target)) + ridge @ (coef - centre)
        hessian = (design_matrix * (weights * p * (1 - p))[:, None]).T @ design_matrix + ridge
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(coef)), gradient)
        # Where the labels separate (a bank's own fit on answers marked against every signal) and the intercept
        # is free, a full Newton step ran off to 2e10.
        coef, current, moved = _damped_step(objective, coef, step, current)
        if moved < 1e-9:
            break
    return coef


def logistic(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(value, 40.0), -40.0)))


def sigmoid(values: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(values, -40.0, 40.0)))
    return out


LABELS = np.arange(11)  # the marks a person gives, 0-10; a label model predicts a distribution over them


def label_design(z: np.ndarray, score: np.ndarray) -> np.ndarray:
    """What the label model reads (one row per answer): every standardised feature, where the ranking score
    sits (a share of full marks) and how mid-range it is (labels pile up at 0 and full marks)."""
    return np.column_stack([z, score, 4 * score * (1 - score)])


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def label_probabilities(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(label = k) for k in LABELS, one row per answer; `coef` is (len(LABELS), 1 + columns)."""
    return softmax_rows(coef[:, 0][None, :] + x @ coef[:, 1:].T)


def fit_multinomial(
    x: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    penalty: float,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """Coefficients (len(LABELS), 1 + columns) of a multinomial logistic regression of the rounded label,
    by Newton steps; L2 `penalty` pulls the slopes (and, 100 times more weakly, the intercepts, so a mark
    no answer got stays finite) towards `prior` (default 0)."""
    k, d = len(LABELS), x.shape[1] + 1
    onehot = (np.clip(np.rint(labels), 0, k - 1)[:, None] == LABELS[None, :]).astype(float)
    design_matrix = np.hstack([np.ones((len(x), 1)), x])
    centre = np.zeros((k, d)) if prior is None else np.asarray(prior, dtype=float)
    ridge = np.full((k, d), penalty)
    ridge[:, 0] = penalty / 100
    coef = centre.copy()

    def objective(c: np.ndarray) -> float:
        logits = design_matrix @ c.T
        log_norm = np.log(np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1)) + logits.max(axis=1)
        nll = float(weights @ (log_norm - (logits * onehot).sum(axis=1)))
        return nll + 0.5 * float((ridge * (c - centre) ** 2).sum())

    current = objective(coef)
    for _ in range(50):
        p = softmax_rows(design_matrix @ coef.T)
        gradient = ((p - onehot) * weights[:, None]).T @ design_matrix + ridge * (coef - centre)
        # Hessian blocks [a, :, b, :] = sum_i w_i (p_ia [a == b] - p_ia p_ib) x_i x_i^T, as one matrix product.
        wp = p * weights[:, None]
        mixed = (-wp[:, :, None] * p[:, None, :]).reshape(len(x), k * k)
        mixed[:, :: k + 1] += wp
        blocks = ((mixed[:, :, None] * design_matrix[:, None, :]).reshape(len(x), k * k * d).T @ design_matrix).reshape(
            k, k, d, d
        )
        hessian = blocks.transpose(0, 2, 1, 3).reshape(k * d, k * d) + np.diag(ridge.ravel()) + 1e-9 * np.eye(k * d)
        step = np.linalg.solve(hessian, gradient.ravel()).reshape(k, d)
        # A full Newton step can overshoot where few answers got a mark.
        coef, current, moved = _damped_step(objective, coef, step, current)
        if moved < 1e-7:
            break
    return coef


def within(score: np.ndarray | float, big_error: float) -> np.ndarray:
    """Which marks are fewer than `big_error` points from each score (0-10): rows of LABELS."""
    return np.abs(np.atleast_1d(np.asarray(score, dtype=float))[:, None] - LABELS[None, :]) < big_error


DECISION_GRID = np.linspace(0.0, 10.0, 101)


@lru_cache(maxsize=8)
def _grid_window(big_error: float) -> np.ndarray:
    """`within` for every score of DECISION_GRID, as floats, one column per score: the same for every answer
    (made once, read-only)."""
    window = within(DECISION_GRID, big_error).T.astype(float)
    window.flags.writeable = False
    return window


def decide(probabilities: np.ndarray, anchor: np.ndarray, pull: float, big_error: float) -> np.ndarray:
    """Per answer, the score (0-10) most likely to be within `big_error` points of the person's mark, less
    `pull` per 10 points it moves away from the ranking score `anchor`: a score where marks are likely to be
    rather than between them (a mean of 0s and 10s is off by 5 from both), kept near the ranking."""
    mass = probabilities @ _grid_window(big_error)
    objective = mass - pull * np.abs(DECISION_GRID[None, :] - anchor[:, None]) / 10.0
    decided: np.ndarray = DECISION_GRID[objective.argmax(axis=1)]
    return decided


def fit_level(
    linear: np.ndarray, labels: np.ndarray, weights: np.ndarray, capped: np.ndarray, big_error: float
) -> tuple[float, float]:
    """(offset, stretch) of the score's linear predictor that leaves the fewest answers off by `big_error`
    points or more (0-10 scale; each bank weighing the same; mean absolute error breaks ties).

    The score model estimates the mean label, and where labels pile up at 0 and full marks a mean sits
    in the middle, off by a lot from both. A monotone map keeps every rank (Spearman) and puts the
    scores where people's marks are: fitted on cross-validated predictors, a grid of a few hundred.
    """
    best, chosen = (math.inf, math.inf), (0.0, 1.0)
    for offset in np.linspace(-1.5, 1.5, 31):
        for stretch in np.linspace(0.75, 2.5, 36):
            scores = np.where(capped, 0.0, 10.0 * sigmoid(offset + stretch * linear))
            error = np.abs(scores - labels)
            value = (float(np.average(error >= big_error, weights=weights)), float(np.average(error, weights=weights)))
            if value < best:
                best, chosen = value, (float(offset), float(stretch))
    return chosen


# -- residual trees ---------------------------------------------------------------------------------
# The linear score cannot express "close to the reference, and yet a claim of it negated" or "many terms,
# no sentence": interactions. Small gradient-boosted trees fitted on the logistic model's residual (in its
# logit) add them; on the interview banks, left out one at a time, they lifted Spearman by about 0.07.
# Splits are soft (a logistic ramp SOFTNESS standard deviations wide) so the score moves smoothly with
# every signal instead of jumping where a split falls.
TREES = 150
TREE_DEPTH = 3
TREE_RATE = 0.05
TREE_MIN_LEAF = 20  # answers (weighted count) a leaf must hold
TREE_BINS = 16
SOFTNESS = 0.15
LEAF_PENALTY = 1.0  # L2 on leaf values (Newton step denominators)
# Each tree is grown on a random share of the answers (stochastic gradient boosting), drawn from a fixed seed so
# a fit is repeatable. Grown on all of them, the trees followed ties in the training banks: a 0.1-std change
# in one feature of other banks moved ml's left-out Spearman by 0.02. Averaged over three CV seeds of the fit,
# 0.7 of the answers per tree: ml left out 0.788 -> 0.817, jv 0.819 -> 0.828, fe 0.824 -> 0.816, ADS 0.656 ->
# 0.649, LE 0.894 -> 0.896 (docs/grading.md).
TREE_SUBSAMPLE = 0.7
TREE_SEED = 0

# A tree is a list of nodes [feature, threshold, left, right, value]; feature -1 marks a leaf.
Tree = list[list[float]]


def _tree_predict(tree: Tree, z: np.ndarray, node: int = 0) -> np.ndarray:
    feature, threshold, left, right, value = tree[node]
    if feature < 0:
        leaf: np.ndarray = np.full(len(z), value)
        return leaf
    right_share = sigmoid((z[:, int(feature)] - threshold) / SOFTNESS)
    left_value, right_value = _tree_predict(tree, z, int(left)), _tree_predict(tree, z, int(right))
    mixed: np.ndarray = (1 - right_share) * left_value + right_share * right_value
    return mixed


@dataclass(frozen=True)
class CompiledTrees:
    """Trees as arrays, for grading: every split's soft share computed at once, then each leaf's weight as the
    product of the shares along its path (walking 150 small trees node by node cost 17 ms an answer)."""

    features: np.ndarray  # per split
    thresholds: np.ndarray
    paths: np.ndarray  # (leaves, depth): split indices along each leaf's path; -1 pads a shorter path
    right: np.ndarray  # (leaves, depth): whether the path turns right there
    values: np.ndarray  # per leaf, times the learning rate

    def predict(self, z: np.ndarray) -> np.ndarray:
        if not len(self.values):
            return np.zeros(len(z))
        share = sigmoid((z[:, self.features] - self.thresholds[None, :]) / SOFTNESS)  # (rows, splits)
        padded = np.hstack([share, np.ones((len(z), 1))])  # index -1: a share of 1 on the right
        taken = padded[:, self.paths]  # (rows, leaves, depth)
        weight = np.where(self.right[None, :, :], taken, 1.0 - taken).prod(axis=2)
        out: np.ndarray = weight @ self.values
        return out


def compile_trees(trees: Sequence[Tree]) -> CompiledTrees:
    features: list[int] = []
    thresholds: list[float] = []
    paths: list[list[int]] = []
    turns: list[list[bool]] = []
    values: list[float] = []
    for tree in trees:
        split_index: dict[int, int] = {}
        for node, (feature, threshold, *_rest) in enumerate(tree):
            if feature >= 0:
                split_index[node] = len(features)
                features.append(int(feature))
                thresholds.append(threshold)
        stack: list[tuple[int, list[int], list[bool]]] = [(0, [], [])]
        while stack:
            node, path, turn = stack.pop()
            feature, _, left, right, value = tree[node]
            if feature < 0:
                paths.append(path)
                turns.append(turn)
                values.append(TREE_RATE * value)
                continue
            stack.append((int(left), [*path, split_index[node]], [*turn, False]))
            stack.append((int(right), [*path, split_index[node]], [*turn, True]))
    depth = max((len(p) for p in paths), default=0)
    return CompiledTrees(
        np.array(features, dtype=int),
        np.array(thresholds, dtype=float),
        np.array([p + [-1] * (depth - len(p)) for p in paths], dtype=int).reshape(len(paths), depth),
        np.array([t + [True] * (depth - len(t)) for t in turns], dtype=bool).reshape(len(turns), depth),
        np.array(values, dtype=float),
    )


def trees_predict(trees: Sequence[Tree], z: np.ndarray) -> np.ndarray:
    """The trees' sum (in the logit of the score), one value per row of standardised features."""
    return compile_trees(trees).predict(z)


def _cuts(z: np.ndarray) -> list[np.ndarray]:
    return [np.unique(np.quantile(z[:, f], np.linspace(0, 1, TREE_BINS + 1)[1:-1])) for f in range(z.shape[1])]


def _grow(
    binned: np.ndarray,
    cuts: list[np.ndarray],
    g: np.ndarray,
    h: np.ndarray,
    w: np.ndarray,
    rows: np.ndarray,
    depth: int,
    tree: Tree,
) -> int:
    """Append the subtree over `rows` to `tree` (g, h: weighted gradients and Hessians, w: weights; features
    binned at `cuts`); returns its root's index."""
    index = len(tree)
    tree.append([-1.0, 0.0, -1.0, -1.0, float((g[rows]).sum() / (h[rows].sum() + LEAF_PENALTY))])
    if depth == 0 or w[rows].sum() < 2 * TREE_MIN_LEAF:
        return index
    features = binned.shape[1]
    slots = TREE_BINS + 1
    flat = (binned[rows] + np.arange(features) * slots).ravel()

    def left_sums(values: np.ndarray) -> np.ndarray:
        """Per feature and cut k: the sum of `values` over rows in bins <= k."""
        per_bin = np.bincount(flat, np.repeat(values[rows], features), features * slots).reshape(features, slots)
        out: np.ndarray = np.cumsum(per_bin, axis=1)[:, :-1]
        return out

    g_left, h_left, w_left = left_sums(g), left_sums(h), left_sums(w)
    g_all, h_all, w_all = g[rows].sum(), h[rows].sum(), w[rows].sum()
    gain = (
        g_left**2 / (h_left + LEAF_PENALTY)
        + (g_all - g_left) ** 2 / (h_all - h_left + LEAF_PENALTY)
        - g_all**2 / (h_all + LEAF_PENALTY)
    )
    valid = (w_left >= TREE_MIN_LEAF) & (w_all - w_left >= TREE_MIN_LEAF)
    valid &= np.arange(slots - 1)[None, :] < np.array([len(c) for c in cuts])[:, None]
    gain = np.where(valid, gain, 0.0)
    feature, cut = np.unravel_index(int(np.argmax(gain)), gain.shape)
    if gain[feature, cut] <= 1e-12:
        return index
    threshold = float(cuts[feature][cut])
    left_rows, right_rows = rows[binned[rows, feature] <= cut], rows[binned[rows, feature] > cut]
    left = _grow(binned, cuts, g, h, w, left_rows, depth - 1, tree)
    right = _grow(binned, cuts, g, h, w, right_rows, depth - 1, tree)
    tree[index] = [float(feature), threshold, float(left), float(right), 0.0]
    return index


def fit_trees(z: np.ndarray, target: np.ndarray, weights: np.ndarray, base: np.ndarray) -> list[Tree]:
    """Gradient-boosted trees on the logistic loss of `target` (0-1) around the linear logit `base`."""
    cuts = _cuts(z)
    # bin b of feature f holds values in (cuts[b-1], cuts[b]]; "left of cut k" is bins <= k.
    binned = np.column_stack([np.searchsorted(c, z[:, f], side="left") for f, c in enumerate(cuts)])
    logit = base.astype(float).copy()
    trees: list[Tree] = []
    rng = np.random.default_rng(TREE_SEED)
    grown_on = max(int(TREE_SUBSAMPLE * len(z)), 1)
    for _ in range(TREES):
        p = sigmoid(logit)
        g, h = weights * (target - p), weights * p * (1 - p)
        rows = np.sort(rng.choice(len(z), grown_on, replace=False))
        tree: Tree = []
        _grow(binned, cuts, g, h, weights, rows, TREE_DEPTH, tree)
        trees.append(tree)
        logit += TREE_RATE * _tree_predict(tree, z)
    return trees
