"""Registering, listing and removing webhook endpoints (admins), and reading their deliveries."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.base import utcnow
from grader.db.webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from grader.errors import NotFound
from grader.keys.principal import Principal
from grader.webhooks.addresses import check_url
from grader.webhooks.schemas import EndpointCreate

SECRET_PREFIX = "whsec_"


class EndpointNotFound(NotFound):
    code = "webhook_not_found"

    def __init__(self, endpoint_id: object) -> None:
        super().__init__(f"webhook endpoint '{endpoint_id}' does not exist", details={"endpoint_id": endpoint_id})


def register(session: Session, data: EndpointCreate, actor: Principal, *, allow_private: bool) -> WebhookEndpoint:
    check_url(data.url, allow_private=allow_private)
    endpoint = WebhookEndpoint(
        url=data.url,
        events=sorted(set(data.events)),
        secret=SECRET_PREFIX + secrets.token_hex(24),
        description=data.description,
        created_by=actor.name,
        created_at=utcnow(),
    )
    session.add(endpoint)
    session.flush()
    audit(session, actor, "webhook.created", "webhook", endpoint.id, url=data.url, events=endpoint.events)
    return endpoint


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound(endpoint_id)
    return endpoint


def disable(session: Session, endpoint_id: int, actor: Principal) -> WebhookEndpoint:
    """Stop sending to it: no new deliveries, and those still waiting are marked failed (replay revives one)."""
    endpoint = get_endpoint(session, endpoint_id)
    if endpoint.disabled_at is None:
        endpoint.disabled_at = utcnow()
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.FAILED.value, next_attempt_at=None)
        )
        audit(session, actor, "webhook.disabled", "webhook", endpoint_id, url=endpoint.url)
    return endpoint


def count_deliveries(session: Session, endpoint_id: int, status: str | None) -> int:
    query = select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return int(session.scalar(query) or 0)
