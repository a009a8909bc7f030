"""What `/api/v1/questions` returns."""

from __future__ import annotations

from pydantic import BaseModel, Field


class KeyPointOut(BaseModel):
    id: str
    text: str
    weight: float
    keywords: list[str]


class QuestionOut(BaseModel):
    id: str
    question: str
    reference_hash: str = Field(description="content hash of the reference version grades are made against")
    key_points: list[KeyPointOut]
