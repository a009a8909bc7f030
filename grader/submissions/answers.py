"""What makes an answer gradeable, whichever way it arrives (REST, a sheet upload, the CLI's sheet).

Each door words the problem its own way (a 422 naming the field, a row error naming the row); the rule
is this one.
"""

from __future__ import annotations

from typing import Literal

AnswerProblem = Literal["empty", "too_long"]


def answer_problem(answer: str, max_chars: int) -> AnswerProblem | None:
    """ "empty" for blank text (whitespace only counts as blank), "too_long" past `max_chars`, else None."""
    if not answer.strip():
        return "empty"
    if len(answer) > max_chars:
        return "too_long"
    return None
