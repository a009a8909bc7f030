"""`/api/v1/webhooks`: admins register receivers, read every delivery and its attempts, replay one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from grader.web.deps import AdminDep, SessionDep, SettingsDep
from grader.webhooks import views
from grader.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or unknown API key"},
    403: {"description": "admins only"},
    404: {"description": "unknown endpoint or delivery"},
}


@router.post(
    "",
    status_code=201,
    response_model=EndpointCreated,
    responses={**ERRORS, 422: {"description": "bad URL (or one on a loopback, private or link-local address)"}},
)
def create_endpoint(
    data: EndpointCreate, session: SessionDep, principal: AdminDep, settings: SettingsDep
) -> EndpointCreated:
    """Register a receiver for some events. The response carries its signing secret: shown this once."""
    return views.register(session, data, principal, allow_private=settings.webhook_allow_private)


@router.get("", response_model=list[EndpointOut], responses=ERRORS)
def list_endpoints(session: SessionDep, principal: AdminDep) -> list[EndpointOut]:
    return views.list_endpoints(session)


@router.get("/{endpoint_id}", response_model=EndpointOut, responses=ERRORS)
def get_endpoint(endpoint_id: int, session: SessionDep, principal: AdminDep) -> EndpointOut:
    return views.get_endpoint(session, endpoint_id)


@router.delete("/{endpoint_id}", response_model=EndpointOut, responses=ERRORS)
def disable_endpoint(endpoint_id: int, session: SessionDep, principal: AdminDep) -> EndpointOut:
    """Stop sending to it; deliveries still waiting are marked failed (each can be replayed)."""
    return views.disable(session, endpoint_id, principal)


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryPage, responses=ERRORS)
def list_deliveries(
    endpoint_id: int,
    session: SessionDep,
    principal: AdminDep,
    status: str | None = Query(default=None, pattern="^(pending|delivered|failed)$"),
    event: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeliveryPage:
    """Newest first, each with every attempt (time, HTTP status or error, duration)."""
    return views.delivery_page(session, endpoint_id, status=status, event_type=event, limit=limit, offset=offset)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, responses=ERRORS)
def get_delivery(delivery_id: int, session: SessionDep, principal: AdminDep) -> DeliveryOut:
    return views.get_delivery(session, delivery_id)


@router.post("/deliveries/{delivery_id}/replay", status_code=202, response_model=DeliveryOut, responses=ERRORS)
def replay_delivery(delivery_id: int, session: SessionDep, principal: AdminDep) -> DeliveryOut:
    """Send the delivery's event again (same event id) as a new delivery, due now."""
    return views.replay(session, delivery_id, principal)
