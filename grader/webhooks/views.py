"""The `/api/v1/webhooks` use cases as the API shows them: receivers and deliveries built into the public
schemas here, so the endpoints never hold an ORM row."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from grader.db.webhook_models import WebhookEndpoint
from grader.keys.principal import Principal
from grader.webhooks import delivery, endpoints
from grader.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
)


def _endpoint_fields(e: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "url": e.url,
        "events": list(e.events),
        "description": e.description,
        "created_by": e.created_by,
        "created_at": e.created_at,
        "disabled_at": e.disabled_at,
    }


def delivery_out(view: delivery.DeliveryView) -> DeliveryOut:
    d = view.delivery
    return DeliveryOut(
        id=d.id,
        endpoint_id=d.endpoint_id,
        event_id=d.event_id,
        event_type=view.event.type,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_attempt_at=d.last_attempt_at,
        delivered_at=d.delivered_at,
        replay_of=d.replay_of,
        created_at=d.created_at,
        attempt_log=[
            AttemptOut(at=a.at, status_code=a.status_code, error=a.error, duration_ms=round(a.duration_ms, 1))
            for a in view.attempts
        ],
        payload=delivery.event_body(view),
    )


def register(session: Session, data: EndpointCreate, actor: Principal, *, allow_private: bool) -> EndpointCreated:
    """The new receiver with its signing secret, which is shown this once."""
    endpoint = endpoints.register(session, data, actor, allow_private=allow_private)
    return EndpointCreated(**_endpoint_fields(endpoint), secret=endpoint.secret)


def list_endpoints(session: Session) -> list[EndpointOut]:
    return [EndpointOut(**_endpoint_fields(e)) for e in endpoints.list_endpoints(session)]


def get_endpoint(session: Session, endpoint_id: int) -> EndpointOut:
    return EndpointOut(**_endpoint_fields(endpoints.get_endpoint(session, endpoint_id)))


def disable(session: Session, endpoint_id: int, actor: Principal) -> EndpointOut:
    return EndpointOut(**_endpoint_fields(endpoints.disable(session, endpoint_id, actor)))


def delivery_page(
    session: Session, endpoint_id: int, *, status: str | None, event_type: str | None, limit: int, offset: int
) -> DeliveryPage:
    """The endpoint's deliveries, newest first; an unknown endpoint is refused rather than shown empty."""
    endpoints.get_endpoint(session, endpoint_id)
    views, total = delivery.list_deliveries(
        session, endpoint_id, status=status, event_type=event_type, limit=limit, offset=offset
    )
    return DeliveryPage(items=[delivery_out(v) for v in views], total=total, limit=limit, offset=offset)


def get_delivery(session: Session, delivery_id: int) -> DeliveryOut:
    return delivery_out(delivery.get_delivery(session, delivery_id))


def replay(session: Session, delivery_id: int, actor: Principal) -> DeliveryOut:
    """The new delivery of the same event, due now."""
    again = delivery.replay(session, delivery_id, actor)
    return get_delivery(session, again.id)
