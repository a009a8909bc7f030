"""The grading entry point the queue, the batch CLI and the evaluation share.

`Grader` binds the reference bank, an embedder and the calibration, embeds each reference once per
content hash, and hands the pure engine everything it needs. `get_grader()` keeps one per process;
the embedder inside it loads on first use, so a Celery worker loads its model after fork.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache

from grader.embeddings import Embedder, get_embedder
from grader.errors import QuestionNotFound
from grader.questions.references import cached_bank
from grader.scoring.calibration import Calibration, load_calibration
from grader.scoring.engine import (
    SCORING_VERSION,
    PreparedReference,
    embed_answers,
    prepare_reference,
    score_embedded,
)
from grader.scoring.types import Reference, ScoreResult
from grader.settings import Settings, get_settings

__all__ = ["SCORING_VERSION", "Grader", "LazyGrader", "build_grader", "get_grader"]


class Grader:
    def __init__(self, bank: Mapping[str, Reference], embedder: Embedder, calibration: Calibration) -> None:
        self.bank = bank
        self.embedder = embedder
        self.calibration = calibration
        self._prepared: dict[str, PreparedReference] = {}  # keyed by reference content hash
        self._lock = threading.Lock()

    def prepared(self) -> list[PreparedReference]:
        """Every reference embedded, computed once per content hash."""
        with self._lock:
            for ref in self.bank.values():
                if ref.content_hash not in self._prepared:
                    self._prepared[ref.content_hash] = prepare_reference(ref, self.embedder)
            return [self._prepared[ref.content_hash] for ref in self.bank.values()]

    def reference(self, question_id: str) -> Reference:
        try:
            return self.bank[question_id]
        except KeyError:
            raise QuestionNotFound(question_id, sorted(self.bank)) from None

    def grade(self, question_id: str, answer: str) -> ScoreResult:
        return self.grade_many([(question_id, answer)])[0]

    def grade_many(self, items: Sequence[tuple[str, str]]) -> list[ScoreResult]:
        """Grade (question_id, answer) pairs; embedding them together is faster than one by one."""
        for question_id, _ in items:
            self.reference(question_id)
        prepared = self.prepared()
        by_id = {p.reference.id: p for p in prepared}
        embedded = embed_answers([answer for _, answer in items], self.embedder)
        return [
            score_embedded(e, by_id[question_id], prepared, self.calibration)
            for e, (question_id, _) in zip(embedded, items, strict=True)
        ]


def build_grader(settings: Settings, calibration: Calibration | None = None) -> Grader:
    """A grader from settings; `calibration` overrides the file (fitting needs a grader before one exists)."""
    return Grader(
        bank=cached_bank(settings.references_dir),
        embedder=get_embedder(settings.embedder),
        calibration=calibration or load_calibration(settings.calibration_file),
    )


@lru_cache(maxsize=1)
def get_grader() -> Grader:
    return build_grader(get_settings())


class LazyGrader:
    """Builds the grader (and loads the model) on first use, in the thread that grades (embedded mode)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._grader: Grader | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Grader:
        with self._lock:
            if self._grader is None:
                self._grader = build_grader(self._settings)
            return self._grader
