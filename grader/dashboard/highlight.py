"""Cutting an answer into runs of text marked with the key points whose evidence covers them.

Evidence spans are character offsets into the answer as submitted (`Span`), and spans of different key
points may overlap, so the answer is cut at every span boundary and each run carries every key point
over it; its colour is the most serious state among them (contradicted, disputed, covered, partial).
Spans of missed key points are not marked: the grader found nothing there worth showing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal, cast

from grader.scoring.feedback import COVERED_CREDIT, PARTIAL_CREDIT

State = Literal["covered", "partial", "missed", "contradicted", "disputed"]
_RANK: dict[State, int] = {"contradicted": 4, "disputed": 3, "covered": 2, "partial": 1, "missed": 0}
_STATES: frozenset[str] = frozenset(_RANK)


def state_of(kp: Mapping[str, Any]) -> State:
    """The key point's state as the engine decided it; grades recorded before states existed derive it from
    their credit and contradiction flag."""
    recorded = kp.get("state")
    if isinstance(recorded, str) and recorded in _STATES:
        return cast(State, recorded)
    return _derived(float(kp.get("credit", 0)), bool(kp.get("contradicted")))


def _derived(credit: float, contradicted: bool) -> State:
    if contradicted:
        return "contradicted"
    if credit >= COVERED_CREDIT:
        return "covered"
    return "partial" if credit >= PARTIAL_CREDIT else "missed"


@dataclass(frozen=True)
class Run:
    text: str
    state: State | None  # None: no evidence here
    key_points: tuple[str, ...] = ()


def segments(answer: str, key_points: Iterable[Mapping[str, Any]]) -> list[Run]:
    spans: list[tuple[int, int, str, State]] = []
    for kp in key_points:
        evidence = kp.get("evidence")
        state = state_of(kp)
        if not evidence or state == "missed":
            continue
        start, end = int(evidence["start"]), int(evidence["end"])
        # Offsets that do not fit this answer (a grade of another text) are dropped, not guessed at.
        if 0 <= start < end <= len(answer) and answer[start:end] == evidence.get("text", answer[start:end]):
            spans.append((start, end, str(kp["id"]), state))
    cuts = sorted({0, len(answer), *(s for s, *_ in spans), *(e for _, e, *_ in spans)})
    runs: list[Run] = []
    for left, right in pairwise(cuts):
        over = [(kp_id, state) for s, e, kp_id, state in spans if s <= left and right <= e]
        best = max((state for _, state in over), key=lambda st: _RANK[st], default=None)
        runs.append(Run(answer[left:right], best, tuple(kp_id for kp_id, _ in over)))
    return runs
