"""`/docs` (Swagger UI) and `/redoc`, served from files installed with the package: the Swagger UI and
Redoc bundles shipped by the `fastapi-offline` wheel, and the start-up script beside this module.

FastAPI's own pages load their scripts from a CDN, with no integrity check, into the app's origin where
a signed-in admin's dashboard cookie lives (issue 18, item 8); and they do not work offline. These pages
load nothing from elsewhere and carry the dashboard's Content-Security-Policy (no inline script).
`GRADER_API_DOCS=false` leaves both pages (not `/openapi.json`) out.
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from grader.dashboard.pages import CSP

HERE = Path(__file__).parent / "static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def asset_dir() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the fastapi-offline package is not installed; /docs and /redoc are served from its files "
            "(install it, or set GRADER_API_DOCS=false)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def install(app: FastAPI) -> None:
    assets = asset_dir()
    missing = [name for name in ASSETS if not (assets / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline ships no {', '.join(missing)}; set GRADER_API_DOCS=false")
    title = html.escape(app.title)

    def page(body: str) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{title}</title><link rel='icon' href='/docs/static/favicon.png'>{body}</html>",
            headers=HEADERS,
        )

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return page(
            "<link rel='stylesheet' href='/docs/static/swagger-ui.css'></head><body><div id='swagger-ui'></div>"
            "<script src='/docs/static/swagger-ui-bundle.js'></script>"
            "<script src='/docs/static/swagger-init.js'></script></body>"
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return page(
            "</head><body><redoc spec-url='/openapi.json'></redoc>"
            "<script src='/docs/static/redoc.standalone.js'></script></body>"
        )

    @app.get("/docs/static/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name == "swagger-init.js":
            return FileResponse(HERE / name, media_type="text/javascript", headers=HEADERS)
        if name not in ASSETS:
            return Response(status_code=404, headers=HEADERS)
        return FileResponse(
            assets / name,
            media_type=ASSETS[name],
            headers={**HEADERS, "Cache-Control": "public, max-age=86400"},
        )
