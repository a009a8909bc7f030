"""Sending deliveries: the dispatcher picks the due ones, a delivery task sends one, and every attempt is
logged. At least once: a receiver that answered but whose answer was lost gets the event again, with the
same `Grader-Event-Id` to drop it by.

A delivery is pending until the receiver answers 2xx. A failed attempt (error, timeout, any other status)
waits `GRADER_WEBHOOK_RETRY_SECONDS[n]` before attempt n + 2; when they are used up the delivery is
`failed` (an admin can replay it). The dispatcher moves a delivery's next attempt a lease ahead when it
hands it out, so a delivery task lost with its worker is handed out again after the lease.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.base import utcnow
from grader.db.session import SessionFactory, session_scope
from grader.db.webhook_models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from grader.errors import NotFound
from grader.keys.principal import Principal
from grader.webhooks import signing
from grader.webhooks.addresses import RefusedUrl, check_url
from grader.webhooks.outbox import envelope

log = logging.getLogger(__name__)

USER_AGENT = "grader-webhooks/1"
DISPATCH_BATCH = 500


class DeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"

    def __init__(self, delivery_id: object) -> None:
        super().__init__(f"webhook delivery '{delivery_id}' does not exist", details={"delivery_id": delivery_id})


@dataclass(frozen=True)
class Policy:
    retry_seconds: Sequence[float]
    timeout_seconds: float
    allow_private: bool

    @property
    def lease(self) -> timedelta:
        # Longer than one attempt can take, so a live delivery task is never doubled by the dispatcher.
        return timedelta(seconds=2 * self.timeout_seconds + 30)


def dispatch_due(session: Session, lease: timedelta, *, now: datetime | None = None) -> list[int]:
    """Claim the deliveries whose next attempt is due (each by one dispatcher, SKIP LOCKED) and move
    their next attempt a lease ahead. The caller queues the returned ids once this commits."""
    now = now or utcnow()
    ids = list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(DISPATCH_BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(next_attempt_at=now + lease))
    return ids


Outcome = Literal["delivered", "retry", "failed", "skipped"]


def body_of(event: WebhookEvent) -> bytes:
    return json.dumps(
        envelope(event.id, event.type, event.created_at, event.data), ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def deliver(factory: SessionFactory, delivery_id: int, policy: Policy) -> Outcome:
    """One attempt at one delivery. No transaction is open while the receiver is being waited for."""
    with session_scope(factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING.value:
            return "skipped"
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        event = session.get(WebhookEvent, delivery.event_id)
        assert endpoint is not None and event is not None  # foreign keys, ON DELETE CASCADE
        if endpoint.disabled_at is not None:
            delivery.status = DeliveryStatus.FAILED.value
            delivery.next_attempt_at = None
            return "failed"
        url, secret, event_id, event_type = endpoint.url, endpoint.secret, event.id, event.type
        body = body_of(event)
    status_code, error, elapsed = _post(url, secret, body, event_id, event_type, delivery_id, policy)
    with session_scope(factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            return "skipped"
        now = utcnow()
        session.add(
            WebhookAttempt(delivery_id=delivery_id, at=now, status_code=status_code, error=error, duration_ms=elapsed)
        )
        if delivery.status != DeliveryStatus.PENDING.value:
            return "skipped"  # delivered by a concurrent attempt meanwhile; this one is logged all the same
        delivery.attempts += 1
        delivery.last_attempt_at = now
        if error is None and status_code is not None and 200 <= status_code < 300:
            delivery.status = DeliveryStatus.DELIVERED.value
            delivery.delivered_at = now
            delivery.next_attempt_at = None
            return "delivered"
        if delivery.attempts > len(policy.retry_seconds):
            delivery.status = DeliveryStatus.FAILED.value
            delivery.next_attempt_at = None
            log.warning("webhook delivery %s to %s failed after %d attempts", delivery_id, url, delivery.attempts)
            return "failed"
        delivery.next_attempt_at = now + timedelta(seconds=policy.retry_seconds[delivery.attempts - 1])
        return "retry"


def _post(
    url: str, secret: str, body: bytes, event_id: uuid.UUID, event_type: str, delivery_id: int, policy: Policy
) -> tuple[int | None, str | None, float]:
    started = time.perf_counter()
    try:
        check_url(url, allow_private=policy.allow_private)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.SIGNATURE_HEADER: signing.signature(secret, timestamp, body),
            signing.EVENT_ID_HEADER: str(event_id),
            signing.EVENT_TYPE_HEADER: event_type,
            signing.DELIVERY_HEADER: str(delivery_id),
        }
        # Redirects are not followed: the address check applies to the URL the admin registered only.
        with httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if 200 <= response.status_code < 300:
            return response.status_code, None, elapsed
        return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}", elapsed
    except RefusedUrl as exc:
        return None, exc.message, (time.perf_counter() - started) * 1000
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], (time.perf_counter() - started) * 1000


def replay(session: Session, delivery_id: int, actor: Principal) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again, as a new delivery due now (same event id)."""
    original = session.get(WebhookDelivery, delivery_id)
    if original is None:
        raise DeliveryNotFound(delivery_id)
    now = utcnow()
    again = WebhookDelivery(
        event_id=original.event_id,
        endpoint_id=original.endpoint_id,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        replay_of=original.id,
        created_at=now,
    )
    session.add(again)
    session.flush()
    audit(session, actor, "webhook.replayed", "webhook_delivery", again.id, replay_of=original.id)
    return again


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    event: WebhookEvent
    attempts: list[WebhookAttempt]


def _views(session: Session, deliveries: Sequence[WebhookDelivery]) -> list[DeliveryView]:
    ids = [d.id for d in deliveries]
    events = {
        e.id: e
        for e in session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_({d.event_id for d in deliveries})))
    }
    attempts: dict[int, list[WebhookAttempt]] = {i: [] for i in ids}
    for attempt in session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)).order_by(WebhookAttempt.at, WebhookAttempt.id)
    ):
        attempts[attempt.delivery_id].append(attempt)
    return [DeliveryView(d, events[d.event_id], attempts[d.id]) for d in deliveries]


def get_delivery(session: Session, delivery_id: int) -> DeliveryView:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(delivery_id)
    return _views(session, [delivery])[0]


def list_deliveries(
    session: Session, endpoint_id: int, *, status: str | None, event_type: str | None, limit: int, offset: int
) -> tuple[list[DeliveryView], int]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if event_type is not None:
        query = query.join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id).where(
            WebhookEvent.type == event_type
        )
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page = list(
        session.scalars(
            query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit).offset(offset)
        )
    )
    return _views(session, page), total


def event_body(view: DeliveryView) -> dict[str, Any]:
    return envelope(view.event.id, view.event.type, view.event.created_at, view.event.data)
