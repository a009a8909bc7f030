"""Helpers for tests that call the REST API: a valid submission body and the error-shape check."""

from __future__ import annotations

import httpx

ANSWER = "RAG 先从知识库检索与问题相关的文档片段，再把它们放进提示词，让大模型基于检索结果生成回答。"


def body(**overrides: object) -> dict[str, object]:
    return {"candidate_id": "c-001", "question_id": "q01", "answer": ANSWER, **overrides}


def assert_error(response: object, status: int, code: str | None = None) -> dict[str, object]:
    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if code is not None:
        assert error["code"] == code
    return dict(error)
