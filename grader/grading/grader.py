"""The grading entry point the queue, the batch CLI and the evaluation share.

`Grader` holds an embedder and the shipped calibration and embeds each reference once per content
hash. The service grades pinned submissions: `plan` loads, inside the caller's transaction, the
published bank version each pinned reference came from and its bank's calibration (versions are
immutable, so they are cached by (bank, version)); `grade_planned` runs the engine outside it. The
command-line tools (`grader grade`, `eval`, `calibrate` on the dev set) grade against a fixed bank
(`Grader.bank`, the curated YAML files), read only when first used: a worker never reads them.
`get_grader()` keeps one per process; the embedder loads on first use, so a worker loads it after fork.

What an answer's task prepares is bounded by its own question, never by its bank's size (issue 18,
item 7: the first answer to a 5,000-question bank prepared every question's key points — every
statement, its reversals and misconceptions embedded — and failed after 111 s, holding the worker).
The answer's question is prepared in full (once per content hash). The other questions of its bank
version matter to the engine only for the off-topic check, which reads a question's reference-answer
vector and keyword groups: they are prepared as *peers*, one reference answer each, embedded together. A
task embeds at most `PEER_BUDGET` new peers (measured here: ~70 ms a reference answer with the default
embedder on a loaded 2-core machine, so 5,000 would be ~6 minutes); the others are compared on their
keywords only until a later task of this process has embedded them (their vector is zero, so the
similarity half of the check cannot fire for them). A peer already prepared in full is used as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from sqlalchemy.orm import Session

from grader.embeddings import Embedder, get_embedder
from grader.errors import QuestionNotFound
from grader.questions.banks import published_references
from grader.questions.calibrations import bank_calibrations
from grader.questions.pins import pin_versions
from grader.questions.references import cached_bank
from grader.scoring.calibration import Calibration, check_profile, load_calibration
from grader.scoring.engine import SCORING_VERSION, score_embedded
from grader.scoring.prepared import PreparedKeyPoint, PreparedReference, prepare_reference
from grader.scoring.reading import embed_answers
from grader.scoring.types import Reference, ScoreResult
from grader.settings import Settings, get_settings

# New peers embedded per grading task (see the module doc): ~2 s here, whatever the bank's size.
PEER_BUDGET = 32

__all__ = ["SCORING_VERSION", "Grader", "GradingPlan", "LazyGrader", "build_grader", "get_grader"]


@dataclass
class GradingPlan:
    """Everything needed to grade answers pinned to these reference versions (keyed by content hash)."""

    references: dict[str, Reference] = field(default_factory=dict)
    peers: dict[str, list[Reference]] = field(default_factory=dict)  # the questions of its bank version
    calibrations: dict[str, Calibration] = field(default_factory=dict)  # its bank's, or the shipped one
    banks: dict[str, str] = field(default_factory=dict)  # content hash → bank name


class Grader:
    def __init__(
        self,
        bank: Mapping[str, Reference] | Callable[[], Mapping[str, Reference]],
        embedder: Embedder,
        calibration: Calibration,
    ) -> None:
        check_profile(calibration, embedder.name)
        self._bank = bank
        self.embedder = embedder
        self.calibration = calibration
        self._prepared: dict[str, PreparedReference] = {}  # keyed by reference content hash
        self._peers: dict[str, PreparedReference] = {}  # reference answer and keywords only, by content hash
        self._versions: dict[tuple[str, int], list[Reference]] = {}  # published bank versions never change
        self._lock = threading.Lock()

    @cached_property
    def bank(self) -> Mapping[str, Reference]:
        """The fixed bank of the command-line tools."""
        return self._bank() if callable(self._bank) else self._bank

    def prepare(self, refs: Iterable[Reference]) -> list[PreparedReference]:
        """The references embedded, once per content hash."""
        with self._lock:
            out = []
            for ref in refs:
                if ref.content_hash not in self._prepared:
                    self._prepared[ref.content_hash] = prepare_reference(ref, self.embedder)
                out.append(self._prepared[ref.content_hash])
            return out

    def peers(self, refs: Sequence[Reference], budget: int | None = None) -> list[PreparedReference]:
        """The questions an answer is compared with for the off-topic check: each question's reference
        answer embedded and its keyword groups, without its key points' statements; at most `budget`
        newly embedded per call (the rest keywords only, not kept). A reference prepared in full is used
        as it is."""
        budget = PEER_BUDGET if budget is None else budget
        with self._lock:
            missing = list(
                {
                    r.content_hash: r
                    for r in refs
                    if r.content_hash not in self._prepared and r.content_hash not in self._peers
                }.values()
            )
        chunk = missing[:budget]
        if chunk:
            vectors = self.embedder.encode([r.reference_answer for r in chunk])
            with self._lock:
                for ref, vector in zip(chunk, vectors, strict=True):
                    self._peers[ref.content_hash] = _peer(ref, vector, self.embedder.name)
        with self._lock:
            known = next(iter({**self._peers, **self._prepared}.values()), None)
            blank = np.zeros_like(known.answer_vector) if known is not None else np.zeros(1, dtype=np.float32)
            return [
                self._prepared.get(r.content_hash)
                or self._peers.get(r.content_hash)
                or _peer(r, blank, self.embedder.name)  # keywords only, this time
                for r in refs
            ]

    def prepared(self) -> list[PreparedReference]:
        """Every reference of the fixed bank embedded, computed once per content hash."""
        return self.prepare(self.bank.values())

    def reference(self, question_id: str) -> Reference:
        try:
            return self.bank[question_id]
        except KeyError:
            raise QuestionNotFound(question_id, sorted(self.bank)) from None

    def grade(self, question_id: str, answer: str) -> ScoreResult:
        return self.grade_many([(question_id, answer)])[0]

    def grade_many(self, items: Sequence[tuple[str, str]]) -> list[ScoreResult]:
        """Grade (question_id, answer) pairs against the fixed bank; embedding them together is faster."""
        for question_id, _ in items:
            self.reference(question_id)
        prepared = self.prepared()
        by_id = {p.reference.id: p for p in prepared}
        embedded = embed_answers([answer for _, answer in items], self.embedder)
        return [
            score_embedded(e, by_id[question_id], prepared, self.calibration)
            for e, (question_id, _) in zip(embedded, items, strict=True)
        ]

    # --- pinned grading (the service) ---------------------------------------------------------------

    def plan(self, session: Session, pins: Iterable[tuple[str, str]]) -> GradingPlan:
        """Load the pinned (question id, content hash) versions; a pin no published bank version holds
        is left out (the caller fails its submission)."""
        plan = GradingPlan()
        located = pin_versions(session, pins)
        own = bank_calibrations(session, {pin.bank for pin in located.values()})
        for (_, content_hash), pin in located.items():
            key = (pin.bank, pin.version)
            if key not in self._versions:
                self._versions[key] = list(published_references(session, pin.bank, pin.version).references.values())
            peers = self._versions[key]
            plan.references[content_hash] = next(r for r in peers if r.content_hash == content_hash)
            plan.peers[content_hash] = peers
            calibration = own[pin.bank].calibration if pin.bank in own else self.calibration
            check_profile(calibration, self.embedder.name)
            plan.calibrations[content_hash] = calibration
            plan.banks[content_hash] = pin.bank
        return plan

    def grade_planned(self, plan: GradingPlan, items: Sequence[tuple[str, str]]) -> list[ScoreResult]:
        """Grade (content hash, answer) pairs with the plan's references, peers and calibrations."""
        embedded = embed_answers([answer for _, answer in items], self.embedder)
        results = []
        for e, (content_hash, _) in zip(embedded, items, strict=True):
            # Only the answer's own question in full; the rest of its bank as peers (see the module doc).
            (reference,) = self.prepare([plan.references[content_hash]])
            peers = [
                reference if p.reference.content_hash == content_hash else p
                for p in self.peers(plan.peers[content_hash])
            ]
            results.append(score_embedded(e, reference, peers, plan.calibrations[content_hash]))
        return results


def _peer(ref: Reference, answer_vector: np.ndarray, embedder: str) -> PreparedReference:
    """A question as the off-topic check reads it: reference-answer vector and keyword groups only."""
    empty = np.zeros((0, answer_vector.shape[-1]), dtype=answer_vector.dtype)
    points = [PreparedKeyPoint(kp, [], empty, [], empty) for kp in ref.key_points]
    # The question's own vector is read only for the answer's own question, which is prepared in full.
    return PreparedReference(ref, points, answer_vector, embedder, np.zeros_like(answer_vector))


def build_grader(settings: Settings, calibration: Calibration | None = None) -> Grader:
    """A grader from settings; `calibration` overrides the file (fitting needs a grader before one exists)."""
    return Grader(
        bank=lambda: cached_bank(settings.references_dir),
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
