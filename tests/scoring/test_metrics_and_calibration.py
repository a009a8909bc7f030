"""Agreement metrics and the fitted mapping from signals to scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from threadpoolctl import threadpool_limits

from grader.errors import GraderError
from grader.grading.grader import Grader
from grader.scoring.calibration import (
    CONFLICT_CONFIDENCE,
    STRONG_ELSEWHERE,
    Calibration,
    Signals,
    big_error_risk,
    confidence,
    final_score,
    load_calibration,
    routed,
    save_calibration,
    settle,
)
from grader.scoring.fitting import fit, fit_own, review_threshold
from grader.scoring.metrics import quadratic_weighted_kappa, spearman, summarise
from grader.scoring.types import Flag


def test_spearman_agrees_with_scipy_including_ties() -> None:
    a = [1, 2, 2, 3, 5, 5, 5, 9]
    b = [2, 1, 4, 4, 6, 5, 7, 8]
    assert spearman(a, b) == pytest.approx(spearmanr(a, b)[0])


def test_kappa_is_one_for_agreement_and_drops_with_distance() -> None:
    labels = [0, 2, 5, 7, 10]
    assert quadratic_weighted_kappa(labels, labels) == pytest.approx(1.0)
    near = quadratic_weighted_kappa([1, 2, 5, 7, 9], labels)
    far = quadratic_weighted_kappa([5, 5, 5, 5, 5], labels)
    assert 1.0 > near > far


def test_summary_compares_0_to_100_scores_with_0_to_10_labels() -> None:
    metrics = summarise([0, 50, 100], [0, 5, 10])
    assert metrics["mae"] == pytest.approx(0.0)
    assert metrics["qwk"] == pytest.approx(1.0)


def _signals(quality: float, *, flags: list[str] | None = None, label: float | None = None) -> Signals:
    return Signals(
        weights=[0.5, 0.5],
        similarities=[0.4 + 0.4 * quality] * 2,
        keyword_shares=[quality, quality],
        contradicted=[False, False],
        whole_similarity=0.3 + 0.3 * quality,
        flags=flags or [],
        bigram_recall=0.6 * quality,
        bigram_f1=0.5 * quality,
        token_recall=0.7 * quality,
        answer_chars=20 + int(60 * quality),
        reference_chars=80,
        label=label,
    )


def _examples(n: int, seed: int = 1) -> list[Signals]:
    rng = np.random.default_rng(seed)
    return [_signals(q, label=round(10 * q)) for q in rng.uniform(size=n)]


@pytest.fixture(scope="module")
def one_bank_fit() -> Calibration:
    """One fit shared by the tests that read a calibration without changing it (a fit takes seconds)."""
    return fit(_examples(80), ["a"] * 80, version="t", fitted_on="synthetic", fit_command="test")


def test_fitting_recovers_a_monotone_mapping_and_reports_cross_validated_metrics_per_bank() -> None:
    examples = _examples(120)
    banks = ["a"] * 60 + ["b"] * 60
    fitted = fit(examples, banks, version="t", fitted_on="synthetic", fit_command="test")
    assert fitted.cv_metrics["cv_a_spearman"] > 0.9 and fitted.cv_metrics["cv_b_spearman"] > 0.9
    for bank in ("a", "b"):  # what review would catch, as a bank's calibration proposal shows it
        sunk, missed = fitted.cv_metrics[f"cv_{bank}_correct_sunk"], fitted.cv_metrics[f"cv_{bank}_big_not_routed"]
        assert 0.0 <= sunk <= missed <= 1.0 and 0.0 <= fitted.cv_metrics[f"cv_{bank}_review_share"] <= 1.0
    low, high = final_score(fitted, _signals(0.0)), final_score(fitted, _signals(1.0))
    assert low < 25 < 75 < high
    assert fitted.version.startswith("t+")  # the digest of the fitted numbers


def test_only_a_non_answer_caps_the_score_other_flags_send_it_to_review(one_bank_fit: Calibration) -> None:
    fitted = one_bank_fit
    assert final_score(fitted, _signals(1.0, flags=["non_answer"])) == 0.0
    # keyword_stuffing, off_topic and too_short were wrong on 25-100% of their firings in ADS/LE.
    for flag in ("keyword_stuffing", "off_topic", "too_short"):
        assert final_score(fitted, _signals(1.0, flags=[flag])) == final_score(fitted, _signals(1.0))


def test_a_strong_answer_with_a_swap_on_a_counted_point_keeps_its_score_and_goes_to_review(
    one_bank_fit: Calibration,
) -> None:
    fitted = one_bank_fit
    strong, weak = _signals(1.0), _signals(0.1)
    for signals in (strong, weak):
        plain = settle(fitted, signals)
        swapped = settle(fitted, signals.model_copy(update={"swapped": [True, False]}))
        assert swapped.assessment.score == plain.assessment.score  # the calibration has weighed the swap already
        assert not plain.conflict and "conflict" not in plain.flags
    strong_swap = settle(fitted, strong.model_copy(update={"swapped": [True, False]}))
    assert strong_swap.conflict and strong_swap.flags == ["conflict"] and not strong_swap.disputed
    assert strong_swap.assessment.confidence <= CONFLICT_CONFIDENCE
    assert routed(strong_swap.assessment.confidence, strong_swap.flags, review_below=0.5)
    # A weak answer with the same swap is not lifted by it: nothing for a person to rescue.
    weak_swap = settle(fitted, weak.model_copy(update={"swapped": [True, False]}))
    assert weak_swap.assessment.score < STRONG_ELSEWHERE and not weak_swap.conflict


def test_confidence_is_below_one_half_exactly_when_the_big_error_risk_passes_the_review_threshold(
    one_bank_fit: Calibration,
) -> None:
    fitted = one_bank_fit
    sides = set()
    for q in np.linspace(0.0, 1.0, 11):
        score = final_score(fitted, _signals(q))
        value = confidence(fitted, _signals(q), score)
        risk = big_error_risk(fitted, _signals(q), score)
        if abs(risk - fitted.review_risk) > 1e-3:
            assert (value < 0.5) == (risk > fitted.review_risk)
            sides.add(risk > fitted.review_risk)
    assert sides == {True, False}  # both directions were checked


def test_the_review_threshold_fills_the_queue_up_to_its_share_flagged_answers_first() -> None:
    risk = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    flagged = np.zeros(10, dtype=bool)
    weights = np.ones(10)
    threshold = review_threshold(risk, flagged, weights, 0.3)
    assert list(risk >= threshold) == [True] * 3 + [False] * 7
    # A flagged answer is routed whatever its risk: it takes one of the three places.
    flagged[9] = True
    threshold = review_threshold(risk, flagged, weights, 0.3)
    assert list((risk >= threshold) | flagged) == [True] * 2 + [False] * 7 + [True]
    # Each bank weighs the same: a small bank's answer counts as much as the large bank's together.
    weights = np.array([5.0] + [5.0 / 9] * 9)
    assert review_threshold(risk, np.zeros(10, dtype=bool), weights, 0.3) > 0.8


def test_a_banks_own_calibration_is_keyed_by_the_bank_and_serialisable(
    tmp_path: Path, one_bank_fit: Calibration
) -> None:
    shipped = one_bank_fit
    # This bank's teachers are more lenient: the same answers score two points higher.
    lenient = [e.model_copy(update={"label": min(10.0, (e.label or 0) + 2)}) for e in _examples(80, seed=2)]
    own = fit_own(lenient, shipped, bank="lenient", version="t", fitted_on="synthetic", fit_command="test")
    assert own.bank == "lenient" and own.version != shipped.version
    assert final_score(own, _signals(0.5)) > final_score(shipped, _signals(0.5)) + 10
    save_calibration(own, tmp_path / "own.json")
    assert load_calibration(tmp_path / "own.json") == own


def test_the_stored_calibration_names_its_source_and_loads(tmp_path: Path) -> None:
    stored = load_calibration(Path("reference_answers/calibration.json"))
    assert stored.fit_command.startswith("grader calibrate")
    assert stored.cv_metrics
    save_calibration(stored, tmp_path / "c.json")
    assert load_calibration(tmp_path / "c.json") == stored


def test_a_missing_or_broken_calibration_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(GraderError, match="grader calibrate"):
        load_calibration(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text(json.dumps({"version": "x"}), encoding="utf-8")
    with pytest.raises(GraderError, match="invalid"):
        load_calibration(tmp_path / "bad.json")


def test_the_shown_score_moves_off_a_mean_between_two_piles_of_marks_to_the_nearest_likely_one() -> None:
    from grader.scoring import model

    split = np.zeros((1, 11))
    split[0, [0, 10]] = 0.5  # people give this kind of answer 0 or full marks, never 5
    decided = model.decide(split, np.array([5.0]), pull=0.5, big_error=3.0)[0]
    assert decided in (pytest.approx(2.9), pytest.approx(7.1))  # within 3 of one pile, as near 5 as that allows
    settled = np.zeros((1, 11))
    settled[0, 7] = 1.0
    assert model.decide(settled, np.array([6.5]), pull=0.5, big_error=3.0)[0] == pytest.approx(6.5)


def test_the_label_model_recovers_the_distribution_of_marks_it_was_fitted_on() -> None:
    from grader.scoring import model

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 1))
    truth = np.full((11, 2), [-30.0, 0.0])  # marks nobody gives
    truth[[0, 5, 10]] = [[0.0, -2.0], [0.0, 0.0], [0.0, 2.0]]  # 0 or 10 by the signal, 5 in between
    probabilities = model.label_probabilities(truth, x)
    labels = np.array([rng.choice(11, p=p) for p in probabilities], dtype=float)
    coef = model.fit_multinomial(x, labels, np.ones(4000), penalty=1.0)
    probe = np.array([[1.0], [0.0], [-1.0]])
    fitted, expected = model.label_probabilities(coef, probe), model.label_probabilities(truth, probe)
    assert fitted.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])
    assert np.abs(fitted - expected).max() < 0.04


def test_the_big_error_risk_is_the_probability_of_marks_3_or_more_points_away() -> None:
    fitted = fit(_examples(200), ["a"] * 200, version="t", fitted_on="synthetic", fit_command="test")
    signals = _signals(0.5)
    anchor = fitted.ranking_score(signals)
    probabilities = fitted.label_probabilities(signals, anchor)
    for score in (0.0, 50.0, 100.0):
        far = sum(p for mark, p in enumerate(probabilities) if abs(score / 10 - mark) >= 3)
        assert big_error_risk(fitted, signals, score) == pytest.approx(far)


def test_a_grade_records_its_ranking_score_and_big_error_risk_for_reviewers(grader: Grader) -> None:
    result = grader.grade("q06", "温度系数控制 softmax 前 logits 的缩放，温度越高输出越随机，越低越确定。")
    # The ranking score recorded is the ranking model's own order: a right answer far above a vague one.
    good = grader.grade(
        "q06", "温度系数是超参数，作用在 softmax 上，把 logits 除以 T。T 大于 1 输出更随机，T 小于 1 输出更保守。"
    )
    vague = grader.grade("q06", "温度就是一个参数，调一调就行。")
    assert good.signals["ranking_score"] > vague.signals["ranking_score"] + 30
    # Confidence reads the same risk: below 0.5 exactly when it is above the review threshold.
    threshold = grader.calibration.review_risk_curated or grader.calibration.review_risk  # q06: a curated bank
    if Flag.CONFLICT in result.flags:  # a disputed conflict sends the grade to a person whatever its risk
        assert result.confidence < 0.5
    else:
        assert (result.confidence < 0.5) == (result.signals["big_error_risk"] > threshold)


def test_a_logistic_fit_on_labels_that_separate_stays_finite_with_a_free_intercept() -> None:
    # A bank's own fit on answers marked against every signal (the poisoned-calibration probe): trees kept as a
    # fixed offset, slopes pulled to a prior, the intercept free. Undamped Newton steps ran the intercept to 2e10.
    from grader.scoring.model import fit_logistic, sigmoid

    rng = np.random.default_rng(3)
    z = np.vstack([rng.normal(1.0, 0.1, (24, 3)), rng.normal(-1.0, 0.1, (24, 3))])
    target = np.array([0.0] * 24 + [1.0] * 24)  # the strong answers marked 0, the empty ones full marks
    offset = np.where(target == 0.0, 6.0, -6.0)  # the kept trees say the opposite, loudly
    coef = fit_logistic(z, target, np.ones(48), np.array([0.0, 2.0, 2.0, 2.0]), np.zeros(4), offset)
    assert np.all(np.isfinite(coef)) and float(np.abs(coef).max()) < 100
    fitted = sigmoid(np.hstack([np.ones((48, 1)), z]) @ coef + offset)
    assert fitted[24:].mean() > fitted[:24].mean()  # it still learns what it can from the labels


def _noisy_examples(n: int, seed: int) -> list[Signals]:
    """Answers whose signals disagree with their marks a little, as real ones do: the trees have splits to choose."""
    rng = np.random.default_rng(seed)
    out = []
    for q in rng.uniform(size=n):
        s = _signals(q, label=float(np.clip(round(10 * q + rng.normal(0, 1.5)), 0, 10)))
        jitter = rng.normal(0, 0.05, size=3)
        similarities = [float(np.clip(v + j, 0, 1)) for v, j in zip(s.similarities, jitter[:2], strict=True)]
        whole = float(np.clip(s.whole_similarity + jitter[2], 0, 1))
        out.append(s.model_copy(update={"similarities": similarities, "whole_similarity": whole}))
    return out


def test_the_same_signals_fit_the_same_calibration_under_one_or_two_blas_threads() -> None:
    # With two threads a product sums in another order, and the last bits were enough to turn a residual tree's
    # split and the review threshold: `grader calibrate --lobo` printed other figures on another core count.
    examples = _noisy_examples(300, seed=7)
    banks = ["a"] * 150 + ["b"] * 150
    fitted = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            fitted.append(fit(examples, banks, version="t", fitted_on="synthetic", fit_command="test"))
    assert fitted[0].version == fitted[1].version  # the digest of every fitted number
