"""The one shape every error takes: `{"error": {"code", "message", "details"}}`.

`GraderError` carries its own status; request validation (including malformed JSON) is 422; Starlette's
own 404/405 keep their status; a lost database connection is 503 with Retry-After; anything else is a
logged 500 that tells the client nothing internal.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from grader.errors import GraderError
from grader.observability import REQUEST_ID_HEADER, request_id_var

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}}, status_code=status, headers=headers
    )


async def grader_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GraderError)
    return error_response(exc.status_code, exc.code, exc.message, exc.details)


def _where(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        first = next(e for e in errors if e["type"] == "json_invalid")
        return error_response(
            422, "invalid_json", f"request body is not valid JSON: {first['msg']}", {"errors": errors}
        )
    message = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors[:5])
    return error_response(422, "validation_error", f"invalid request: {message}", {"errors": errors})


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (a body that is not UTF-8, a broken multipart envelope):
        # malformed input, answered like malformed JSON.
        return error_response(422, "invalid_body", f"request body could not be parsed: {exc.detail}")
    codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=dict(exc.headers) if exc.headers else None,
    )


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # A dropped connection or a restarting Postgres: the request did not happen (its transaction rolled
    # back), so the client may simply retry. The message never carries SQL or parameters.
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(
        503, "database_unavailable", "the database is unavailable; retry shortly", headers={"Retry-After": "2"}
    )


async def unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value from the request (out of range, not storable as text): the client's
    # input, so a 422 — without echoing the statement or its parameters.
    log.warning("database refused a value on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(
        422,
        "invalid_input",
        "a value in the request cannot be stored; check the fields for control characters or values out of range",
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # Starlette answers this one outside every middleware, the request-id one included: name the id here
    # so the client can quote it and the log line can be found.
    request_id = getattr(request.state, "request_id", None) or request_id_var.get()
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    return error_response(500, "internal_error", "internal error; the server log has the details", headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(GraderError, grader_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(InterfaceError, database_unavailable)
    app.add_exception_handler(DataError, unstorable_value)
    app.add_exception_handler(Exception, unexpected_error)
