"""What `/api/v1/webhooks` reads and writes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal["submission.graded", "submission.reviewed", "interview.completed", "batch.completed"]
EVENT_TYPES: tuple[str, ...] = ("submission.graded", "submission.reviewed", "interview.completed", "batch.completed")


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: Annotated[str, Field(min_length=8, max_length=2000, examples=["https://ats.example.com/hooks/grader"])]
    events: Annotated[list[EventType], Field(min_length=1)]
    description: Annotated[str | None, Field(max_length=200)] = None


class EndpointOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str | None
    created_by: str
    created_at: datetime
    disabled_at: datetime | None


class EndpointCreated(EndpointOut):
    secret: str = Field(description="signs every delivery (Grader-Signature); shown this once, store it now")


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    replay_of: int | None
    created_at: datetime
    attempt_log: list[AttemptOut]
    payload: dict[str, Any]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int
