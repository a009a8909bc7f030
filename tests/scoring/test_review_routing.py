"""The review queue, measured with the shipped calibration and the service's own routing rule.

Computed from the real fitted model (`reference_answers/calibration.json`) and the real embedder: no
mocks. The dev set is in-sample for the shipped calibration (it is one of the sets it was fitted on);
the LE test split is held out (fitted on its train split only).
"""

from __future__ import annotations

import numpy as np
import pytest

from grader.evaluation import (
    EVAL_DIR,
    EvalRow,
    Report,
    evaluate,
    grader_for,
    measure,
    read_rows,
    report_from_signals,
)
from grader.grading.grader import Grader
from grader.scoring.calibration import STRONG_ELSEWHERE, review_flagged
from grader.scoring.types import ConflictRule


@pytest.fixture(scope="module")
def dev(grader: Grader) -> Report:
    """The whole dev set graded: every test using it is `slow` (outside `scripts/test --fast`)."""
    return evaluate(grader, read_rows(EVAL_DIR / "dev_set.jsonl"))


def _big(report: Report) -> np.ndarray:
    return np.abs(np.array(report.scores) / 10 - np.array(report.labels)) >= 3


def _ranked_below(report: Report) -> float:
    """Share of (big error, other answer) pairs where the big error has the lower confidence (AUC)."""
    big, confidence = _big(report), np.array(report.confidences)
    return float(np.mean(confidence[big][:, None] < confidence[~big][None, :]))


@pytest.mark.slow
def test_confidence_ranks_the_dev_answers_the_grader_gets_most_wrong_below_the_threshold(dev: Report) -> None:
    big, confidence = _big(dev), np.array(dev.confidences)
    assert big.any()
    # Measured with the label model (scores placed where marks are likely) fitted with the interview banks:
    # AUC 0.90 in-sample, mean confidence 0.60 against 0.8 (AUC 0.92 when fitted on the dev set, ADS and LE
    # alone). Which of so few big errors cross the threshold is one answer's move; the bar itself is the next
    # test, and `grader calibrate --lobo` measures it cross-validated.
    assert _ranked_below(dev) >= 0.85
    assert confidence[big].mean() < 0.65 < 0.75 < confidence[~big].mean()


@pytest.mark.slow
def test_the_review_queue_stays_within_its_share_and_catches_the_big_errors_on_the_dev_set(dev: Report) -> None:
    """An in-sample snapshot, not a measurement: the dev set is one the shipped calibration was fitted on. The
    fit sets the review threshold on cross-validated risks so that at most 28% of each set is routed (dev
    25.3% cross-validated, three seeds: the 30% bar, README); the final model's risks on the answers it was
    fitted on differ, and the conflict flag is raised after scoring, so in-sample the share lands near, not
    under, that budget (30.8% under scoring 1.6: 37 of 120, 24 of them flagged off_topic, keyword_stuffing or
    too_short whatever the calibration). It guards the wiring (routing as the service routes); the held-out
    bar is the generated banks' test below."""
    _, missed = dev.big_errors()
    assert dev.review_share() <= 0.32
    assert missed <= 0.05


@pytest.mark.slow
def test_the_report_routes_exactly_what_the_service_routes(dev: Report) -> None:
    from grader.grading.record import needs_review

    assert dev.reviewed() == [needs_review(r, 0.5) for r in dev.results]


def test_missed_big_errors_are_told_apart_by_direction_and_sunk_correct_answers_counted() -> None:
    marks = [9, 8, 7, 2, 1, 5]
    scores = [40.0, 45.0, 90.0, 70.0, 0.0, 50.0]  # under, under but routed, right, over, right, right
    confidences = [0.9, 0.3, 0.9, 0.8, 0.9, 0.9]
    rows = [EvalRow(id=str(i), question_id="q01", answer="…", score=m) for i, m in enumerate(marks)]
    report = Report(rows, scores, confidences, [[] for _ in rows], [False] * len(rows), {})
    under, over = report.missed_by_direction()
    assert under == pytest.approx(1 / 6) and over == pytest.approx(1 / 6)
    assert under + over == pytest.approx(report.big_errors()[1])
    # Marked 7 or more: three answers; the one scored 40 went unrouted, the one scored 45 was routed.
    assert report.sunk_correct() == (1, 3)


@pytest.mark.slow  # measures the dev set
def test_a_bank_fits_before_after_figures_are_the_review_queue_the_evaluation_reports(grader: Grader) -> None:
    # The bank page's before/after figures of a new calibration (`calibrate.agreement`) read routing as the service
    # and `grader eval` do: the same review share, missed big errors and correct answers sunk on the same answers.
    from grader.grading.calibrate import agreement

    rows = read_rows(EVAL_DIR / "dev_set.jsonl")
    signals = measure(grader_for("llm", grader), rows)
    labels = [r.score or 0.0 for r in rows]
    figures = agreement(grader.calibration, signals, labels, 0.5)
    report = report_from_signals(rows, signals, grader.calibration, {})
    sunk, _ = report.sunk_correct()
    assert figures["spearman"] == pytest.approx(report.metrics()["spearman"])
    assert figures["review_share"] == pytest.approx(report.review_share())
    assert figures["big_not_routed"] == pytest.approx(report.big_errors()[1])
    assert figures["correct_sunk"] == pytest.approx(sunk / len(rows))
    assert 0 < figures["review_share"] < 0.5


def test_a_capped_non_answer_is_graded_other_flags_go_to_review() -> None:
    assert not review_flagged(["non_answer"])
    for flag in ("off_topic", "keyword_stuffing", "too_short", "copy_of_reference"):
        assert review_flagged([flag]) and review_flagged(["non_answer", flag])


@pytest.mark.slow  # grades each generated bank's whole test split
@pytest.mark.parametrize("bank", ["le", "ads"])
def test_on_held_out_answers_of_generated_banks_the_review_queue_meets_the_bar(grader: Grader, bank: str) -> None:
    """The test splits (fitted on train splits only). The issue's bar is <= 5% of all answers off by 3+ and not
    routed, with review <= 30%; it is NOT met since the shipped calibration is fitted on the interview banks as
    well (their scale first), and less so since the short-answer sets weigh half a bank each in that fit
    (`evaluation.BANK_SHARE`: it brought the interview banks left out to 0.831 / 0.877 / 0.854): ADS 14.9% missed
    with 26% routed, LE 4.0% with 15%; at a full bank each ADS was 11.4%. Fitted on the dev set, ADS and LE alone
    it was LE 1.7% / 21.6% and ADS 3.8% / 25.5%. This guards the present level until the risk model is improved
    for short textbook answers (see docs/grading.md)."""
    report = evaluate(grader_for(bank, grader), read_rows(EVAL_DIR / f"external/{bank}/test.jsonl"))
    _, missed = report.big_errors()
    assert _ranked_below(report) >= 0.55
    assert report.review_share() <= 0.35 and missed <= 0.16


@pytest.mark.slow
@pytest.mark.parametrize("bank", ["llm", "fe"])
def test_figures_read_from_signals_grade_and_route_as_the_service_does(grader: Grader, bank: str) -> None:
    # `grader calibrate --lobo`, the README table and bench/fit_seeds.py score answers from measured signals, not
    # through Grader.grade_many. A contradicted point in an otherwise strong answer is disputed in both (dev q06's
    # reversed-temperature answer: 21 read contradicted, 88 without the conflict; the service shows it halfway and
    # routes it, where the figures read 21 unrouted before `calibration.settle`). A strong answer with a swap named
    # on a counted point is routed in both (fe: 27 of 144 routed by the service, 25 by the figures before
    # `Signals.swapped`).
    path = EVAL_DIR / "dev_set.jsonl" if bank == "llm" else EVAL_DIR / "interview" / bank / "answers.jsonl"
    rows = read_rows(path)
    graded = grader_for(bank, grader)
    service = evaluate(graded, rows)
    from_signals = report_from_signals(rows, measure(graded, rows), graded.calibration, {})
    assert from_signals.scores == service.scores
    assert from_signals.confidences == service.confidences
    assert from_signals.flags == service.flags
    assert from_signals.reviewed() == service.reviewed()
    if bank == "llm":
        assert any("conflict" in flags for flags in from_signals.flags)
    else:
        swap = [
            any(kp.conflict is not None and kp.conflict.rule is ConflictRule.SWAP for kp in r.key_points)
            for r in service.results
        ]
        swapped_strong = [i for i, r in enumerate(service.results) if swap[i] and r.score >= STRONG_ELSEWHERE]
        assert swapped_strong
        assert all(from_signals.reviewed()[i] and "conflict" in from_signals.flags[i] for i in swapped_strong)
