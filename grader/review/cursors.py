"""Keyset cursors for the result pages: a cursor holds the sort key of the last row a page showed, so the
next page is the rows after it in the sort order, read by an index from there, however deep the page.

A cursor is opaque to clients (base64url JSON) but not secret: it carries only values of a row the caller
has already seen. It names the sort and the filters it was made for, and a cursor used with others is
refused rather than silently starting a different list somewhere in the middle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, literal, or_, tuple_

from grader.errors import InvalidInput

if TYPE_CHECKING:  # results imports this module; the filter is only a type here
    from grader.review.results import ResultFilter

PASS_IT_ON = "pass the previous page's next_cursor unchanged, or start again without a cursor"


def _filters_digest(f: ResultFilter) -> str:
    # Values are normalised by ResultFilter (instants in UTC), so equal filters give equal digests.
    text = repr(sorted((name, repr(value)) for name, value in f.__dict__.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"at": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"id": str(value)}
    return value


def _typed(value: Any) -> Any:
    if isinstance(value, dict) and "at" in value:
        return datetime.fromisoformat(value["at"])
    if isinstance(value, dict) and "id" in value:
        return uuid.UUID(value["id"])
    return value


def encode(values: Sequence[Any], sort: str, f: ResultFilter) -> str:
    """The cursor after a row whose sort key (its columns in order, submission_id last) is `values`."""
    payload = {"sort": sort, "filters": _filters_digest(f), "after": [_plain(v) for v in values]}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str, sort: str, f: ResultFilter) -> list[Any]:
    """The sort key a cursor holds; InvalidInput (422) for one this API did not give or gave another query."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        made_for, digest, values = payload["sort"], payload["filters"], [_typed(v) for v in payload["after"]]
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise InvalidInput(f"cursor is not one this API gave: {PASS_IT_ON}", details={"field": "cursor"}) from None
    if made_for != sort:
        raise InvalidInput(
            f"cursor was made for sort={made_for}, not sort={sort}: {PASS_IT_ON}", details={"field": "cursor"}
        )
    if digest != _filters_digest(f):
        raise InvalidInput(f"cursor was made for other filters: {PASS_IT_ON}", details={"field": "cursor"})
    if not values or not isinstance(values[-1], uuid.UUID):
        raise InvalidInput(f"cursor is not one this API gave: {PASS_IT_ON}", details={"field": "cursor"})
    return values


def after(keys: Sequence[tuple[Any, bool]], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after `values` in the order of `keys` ((column, descending) pairs, a unique column last)."""
    if len(values) != len(keys):
        raise InvalidInput(f"cursor is not one this API gave: {PASS_IT_ON}", details={"field": "cursor"})
    bound = [literal(value, type_=column.type) for (column, _), value in zip(keys, values, strict=True)]
    directions = {descending for _, descending in keys}
    if len(directions) == 1:
        # One direction: a row comparison, which a btree index reads as a range.
        row, at = tuple_(*(column for column, _ in keys)), tuple_(*bound)
        return row < at if directions.pop() else row > at
    # Mixed directions ("question": question asc, score desc): equal on the leading keys, past on the next.
    steps = []
    for i, (column, descending) in enumerate(keys):
        equal = [keys[j][0] == bound[j] for j in range(i)]
        steps.append(and_(*equal, column < bound[i] if descending else column > bound[i]))
    return or_(*steps)
