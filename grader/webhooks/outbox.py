"""Raising events: written in the caller's transaction, one delivery per subscribed endpoint, due now.

Nothing is sent here. The dispatcher (`grader.webhooks.delivery.dispatch_due`, on beat) hands due
deliveries to the webhooks queue; an event raised in a transaction that rolls back is never sent.
With no endpoint subscribed to a type, raising it costs one small query and writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from grader.db.base import utcnow
from grader.db.webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent


def subscriptions(session: Session) -> dict[str, list[int]]:
    """Event type → ids of the active endpoints that asked for it (one small query)."""
    by_type: dict[str, list[int]] = {}
    for endpoint_id, events in session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.disabled_at.is_(None))
    ):
        for event_type in events:
            by_type.setdefault(event_type, []).append(endpoint_id)
    return by_type


def subscribers(session: Session, event_type: str) -> list[int]:
    """Ids of the active endpoints that asked for `event_type`."""
    return subscriptions(session).get(event_type, [])


def envelope(event_id: uuid.UUID, event_type: str, created_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The body every receiver gets: the event's id (dedupe on it), type, time and data."""
    return {"id": str(event_id), "type": event_type, "created_at": created_at.isoformat(), "data": data}


def emit(
    session: Session, event_type: str, items: Sequence[dict[str, Any]], *, endpoints: list[int] | None = None
) -> list[uuid.UUID]:
    """One event per item of data, each to every subscribed endpoint. Returns the event ids."""
    if not items:
        return []
    targets = subscribers(session, event_type) if endpoints is None else endpoints
    if not targets:
        return []
    now = utcnow()
    ids = [uuid.uuid4() for _ in items]
    events = [
        {"id": eid, "type": event_type, "data": data, "created_at": now} for eid, data in zip(ids, items, strict=True)
    ]
    session.execute(insert(WebhookEvent), events)
    session.execute(
        insert(WebhookDelivery),
        [
            {
                "event_id": event["id"],
                "endpoint_id": endpoint_id,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event in events
            for endpoint_id in targets
        ],
    )
    return ids
