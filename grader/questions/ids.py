"""How a typed question id is read: one rule for the REST submit, the batch sheet and `grader grade`.

Ids are compared trimmed and lower-cased (` Q03 ` is `q03`). Ids are becoming slugs (`le-005`,
`ads-008`), so the only other liberty taken is the old numbering: `q3` means `q03` when the bank has
`q03` and no `q3`. Anything else is left as typed (trimmed, lower-cased) for the caller to accept or
refuse by name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container

_NUMBERED = re.compile(r"q0*(\d{1,3})")


def candidates(typed: str) -> list[str]:
    """Every id `typed` could name, for a lookup that fetches only those (then `normalise_question_id`)."""
    text = unicodedata.normalize("NFKC", typed).strip()
    found = [text, text.lower()]
    numbered = _NUMBERED.fullmatch(text.lower())
    if numbered:
        found.append(f"q{int(numbered.group(1)):02d}")
    return list(dict.fromkeys(found))


def normalise_question_id(typed: str, known: Container[str]) -> str:
    """The bank id that `typed` names, or `typed` trimmed and lower-cased when none does."""
    # NFKC: a full-width `ｑ０３` typed with a Chinese input method is `q03`.
    text = unicodedata.normalize("NFKC", typed).strip()
    if text in known:
        return text
    qid = text.lower()
    if qid in known:
        return qid
    numbered = _NUMBERED.fullmatch(qid)
    if numbered:
        padded = f"q{int(numbered.group(1)):02d}"
        if padded in known:
            return padded
    return qid
