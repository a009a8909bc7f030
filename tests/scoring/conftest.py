"""The real default embedder and reference bank, loaded once for the scoring tests."""

from __future__ import annotations

import pytest

from grader.grading.grader import Grader, build_grader
from grader.settings import Settings


@pytest.fixture(scope="session")
def grader() -> Grader:
    return build_grader(Settings(embedder="use"))
