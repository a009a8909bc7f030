"""Agreement metrics and the fitted mapping from signals to scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from grader.errors import GraderError
from grader.scoring.calibration import Calibration, Signals, final_score, fit, load_calibration, save_calibration
from grader.scoring.metrics import quadratic_weighted_kappa, spearman, summarise


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


CAL = Calibration(
    version="t",
    sim_floor=0.4,
    sim_ceiling=0.8,
    keyword_weight=0.5,
    intercept=0.0,
    coverage_coef=1.0,
    whole_coef=0.0,
    contradiction_coef=-0.5,
)


def _signals(sim: float, share: float, *, contradicted: bool = False, flags: list[str] | None = None) -> Signals:
    return Signals(
        weights=[1.0],
        similarities=[sim],
        keyword_shares=[share],
        contradicted=[contradicted],
        whole_similarity=0.5,
        flags=flags or [],
    )


def test_full_similarity_and_keywords_give_full_marks_and_a_contradiction_gives_none() -> None:
    assert final_score(CAL, _signals(0.9, 1.0)) == pytest.approx(100.0)
    assert final_score(CAL, _signals(0.9, 1.0, contradicted=True)) == 0.0


def test_a_flag_caps_the_score_at_its_rubric_limit() -> None:
    assert final_score(CAL, _signals(0.9, 1.0, flags=["keyword_stuffing"])) == CAL.cap_keyword_stuffing
    assert final_score(CAL, _signals(0.9, 1.0, flags=["non_answer"])) == 0.0


def test_fitting_recovers_a_monotone_mapping_and_reports_cross_validated_metrics() -> None:
    rng = np.random.default_rng(1)
    examples = []
    for _ in range(80):
        quality = float(rng.uniform())
        examples.append(
            Signals(
                weights=[0.5, 0.5],
                similarities=[0.4 + 0.4 * quality] * 2,
                keyword_shares=[quality, quality],
                contradicted=[False, False],
                whole_similarity=0.3 + 0.3 * quality,
                flags=[],
                label=round(10 * quality),
            )
        )
    fitted = fit(examples, version="t", fitted_on="synthetic", fit_command="test")
    assert fitted.cv_metrics["cv_spearman"] > 0.95
    low, high = (final_score(fitted, examples[i]) for i in np.argsort([e.label or 0 for e in examples])[[0, -1]])
    assert low < 20 < 80 < high


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
