"""`/dashboard`: the reviewers' pages, rendered on the server (Jinja2) from the same use-case functions the
REST API calls (`grader.review`, `grader.batches.uploads`); no page runs a query of its own.

Pages need a signed-in reviewer or admin (`grader.dashboard.signin`); anyone else is sent to the sign-in
page, and a recruiter's key is refused there. Every POST checks the CSRF token. Charts are drawn in the
browser by plotly.js, served from the installed `plotly` Python package (no CDN, works offline).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import uuid
from datetime import tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from grader.batches import uploads
from grader.batches.export import REJECTED, Format, View, summarize
from grader.dashboard import signin
from grader.dashboard.highlight import segments, state_of
from grader.dashboard.views import PAGE_SIZE, local_time, parse_queue, template_globals
from grader.db.batch_models import Batch
from grader.db.models import Role
from grader.errors import GraderError, NotFound, Unauthorized
from grader.keys import api_keys
from grader.keys import sessions as dashboard_sessions
from grader.keys.principal import Principal
from grader.questions.pins import question_choices
from grader.review import results as review
from grader.review import stats as review_stats
from grader.review.results_index import decode_flags
from grader.review.schemas import KeyPointCorrection, ReviewCreate
from grader.settings import Settings, display_zone
from grader.web.deps import SessionDep, SettingsDep

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(template_globals())
router = APIRouter(prefix="/dashboard", include_in_schema=False)

# plotly.js needs inline styles (it positions its own elements); no script runs from anywhere but here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def plotly_js() -> tuple[Path, str]:
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed; the dashboard's charts are served from it")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path, importlib.metadata.version("plotly")


def display_zone_of(request: Request) -> tzinfo:
    settings: Settings = request.app.state.settings
    return display_zone(settings.display_timezone)


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    # Times on every page in the app's display zone, each with its label.
    zone = display_zone_of(request)
    context = {"local_time": lambda value: local_time(value, zone), **context}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def reviewer_session(request: Request, settings: SettingsDep, db: SessionDep) -> signin.DashboardSession:
    session = signin.current(request, settings, db)
    if session is None or session.principal is None:
        raise signin.SignInRequired(_here(request))
    return session


ReviewerSession = Annotated[signin.DashboardSession, Depends(reviewer_session)]


def _page(
    request: Request, session: signin.DashboardSession, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    assert session.principal is not None
    return render(request, name, {"user": session.principal, "csrf": session.csrf, **context}, status_code)


def _safe_next(target: str | None) -> str:
    # Only back into the dashboard: never an open redirect to another site.
    if target and target.startswith("/dashboard") and not target.startswith("//"):
        return target
    return "/dashboard/queue"


# --- signing in and out -----------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, settings: SettingsDep, db: SessionDep, next: str | None = None) -> Response:
    session = signin.current(request, settings, db)
    if session is not None and session.principal is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, settings, session, next)


def _login_form(
    request: Request,
    settings: Settings,
    session: signin.DashboardSession | None,
    next_url: str | None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    # A pre-session carrying only a CSRF token protects the sign-in form itself.
    csrf = session.csrf if session is not None else signin.new_csrf()
    response = render(request, "login.html", {"next": _safe_next(next_url), "error": error, "csrf": csrf}, status_code)
    if session is None:
        signin.write(response, request, settings, key_id=None, csrf=csrf)
    return response


@router.post("/login")
def login(
    request: Request,
    settings: SettingsDep,
    db: SessionDep,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    session = signin.current(request, settings, db)
    signin.check_csrf(session, csrf_token)
    try:
        principal = api_keys.authenticate(db, api_key)
    except Unauthorized:
        return _login_form(request, settings, session, next, "API 密钥无效或已被吊销。", 401)
    if principal.role not in signin.ALLOWED:
        return _login_form(
            request,
            settings,
            session,
            next,
            f"密钥“{principal.name}”的角色是{_role_name(principal.role)}，审核面板仅限审核员和管理员使用。",
            403,
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    session_id = dashboard_sessions.open_session(db, principal)
    signin.write(response, request, settings, key_id=principal.key_id, csrf=signin.new_csrf(), session_id=session_id)
    return response


def _role_name(role: Role) -> str:
    return {Role.RECRUITER: "招聘专员", Role.REVIEWER: "审核员", Role.ADMIN: "管理员"}[role]


@router.post("/logout")
def logout(
    request: Request, settings: SettingsDep, db: SessionDep, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    session = signin.current(request, settings, db)
    signin.check_csrf(session, csrf_token)
    if session is not None and session.session_id is not None and session.principal is not None:
        dashboard_sessions.close_session(db, session.session_id, session.principal)
    response = RedirectResponse("/dashboard/login", status_code=303)
    signin.clear(response)
    return response


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse("/dashboard/queue", status_code=303)


# --- queue and detail -------------------------------------------------------------------------------------


@router.get("/queue")
def queue_page(request: Request, session: ReviewerSession, db: SessionDep) -> HTMLResponse:
    query = parse_queue(dict(request.query_params), display_zone_of(request))
    page = review.list_results(db, query.filters, sort=query.sort, limit=PAGE_SIZE, offset=query.offset)
    items, total = page.items, page.total
    pages = max((total.count + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    questions = question_choices(db)
    rows = [{"item": i, "flags": decode_flags(i.row.flags)} for i in items]
    return _page(
        request,
        session,
        "queue.html",
        {
            "q": query,
            "rows": rows,
            "total": total,
            "pages": pages,
            "questions": questions,
            # A short label beside each id: an imported bank's ids are hashes (db-3d849a31) nobody recognises.
            "question_texts": dict(questions),
            "nav": "queue",
            "here": _here(request),
        },
    )


def _detail_context(db: SessionDep, submission_id: uuid.UUID) -> dict[str, Any]:
    view = review.get_result(db, submission_id)
    grade_points = view.grade.key_points
    by_id = {kp["id"]: kp for kp in grade_points}
    corrections = {c["key_point_id"]: c for c in view.row.key_point_corrections}
    points = []
    for ref in view.reference_key_points or grade_points:
        kp = by_id.get(ref["id"], {})
        credit = float(kp.get("credit", 0.0))
        points.append(
            {
                "ref": ref,
                "kp": kp,
                "credit": credit,
                "state": state_of(kp),
                "correction": corrections.get(ref["id"]),
            }
        )
    return {
        "view": view,
        "row": view.row,
        "flags": decode_flags(view.row.flags),
        "points": points,
        "runs": segments(view.submission.answer, grade_points),
        "history": review.history(db, submission_id),
    }


@router.get("/results/{submission_id}")
def result_page(
    request: Request,
    submission_id: uuid.UUID,
    session: ReviewerSession,
    db: SessionDep,
    back: str | None = None,
    saved: int = 0,
) -> HTMLResponse:
    try:
        context = _detail_context(db, submission_id)
    except NotFound as exc:
        return _page(request, session, "error.html", {"title": "找不到该结果", "message": exc.message}, 404)
    return _page(
        request,
        session,
        "result.html",
        {**context, "back": _safe_next(back), "saved": bool(saved), "errors": [], "form": {}, "nav": "queue"},
    )


@router.post("/results/{submission_id}/review")
async def review_form(request: Request, submission_id: uuid.UUID, session: ReviewerSession, db: SessionDep) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    signin.check_csrf(session, fields.get("csrf_token"))
    assert session.principal is not None
    back = _safe_next(fields.get("back"))
    errors: list[str] = []
    corrections = []
    for name, value in fields.items():
        if name.startswith("kp_") and value.strip():
            try:
                corrections.append(KeyPointCorrection(key_point_id=name[3:], credit=float(value)))
            except (ValueError, ValidationError):
                errors.append(f"要点 {name[3:]} 的得分应为 0 到 1 之间的数字")
    data = None
    try:
        expected = fields.get("expected_review_count", "")
        data = ReviewCreate(
            final_score=float(fields.get("final_score", "") or "nan"),
            comment=fields.get("comment", ""),
            key_points=corrections,
            expected_review_count=int(expected) if expected.isdigit() else None,
        )
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            for e in exc.errors():
                where = e["loc"][0] if e["loc"] else ""
                errors.append(
                    {
                        "final_score": "最终分应为 0 到 100 之间的数字",
                        "comment": "请填写审核理由（必填，最多 2000 字）",
                    }.get(str(where), str(e["msg"]))
                )
        else:
            errors.append("最终分应为 0 到 100 之间的数字")
    if data is not None and not errors:
        try:
            review.review_atomically(db, submission_id, data, session.principal)
        except GraderError as exc:
            if isinstance(exc, NotFound):
                return _page(request, session, "error.html", {"title": "找不到该结果", "message": exc.message}, 404)
            errors.append(exc.message)
        else:
            return RedirectResponse(f"/dashboard/results/{submission_id}?saved=1&back={quote(back)}", status_code=303)
    context = _detail_context(db, submission_id)
    return _page(
        request,
        session,
        "result.html",
        {**context, "back": back, "saved": False, "errors": errors, "form": fields, "nav": "queue"},
        422,
    )


# --- overview ---------------------------------------------------------------------------------------------


@router.get("/overview")
def overview_page(request: Request, session: ReviewerSession, db: SessionDep) -> HTMLResponse:
    stats = review_stats.question_stats(db)
    agreement = review_stats.agreement(db)
    charts = {
        "bin_edges": review_stats.BIN_EDGES,
        "questions": [
            {
                "id": s.question_id,
                "histogram": s.histogram,
                "count": s.count,
                "mean": s.mean,
                "median": s.median,
                "mad": s.mean_abs_override_delta,
                "share_overridden": s.share_overridden,
            }
            for s in stats
        ],
        "agreement": [{"q": p.question_id, "grader": p.grader_score, "final": p.final_score} for p in agreement.points],
    }
    return _page(
        request,
        session,
        "overview.html",
        {
            "stats": stats,
            "agreement": agreement,
            "chart_json": json.dumps(charts, ensure_ascii=False).replace("<", "\\u003c"),
            "nav": "overview",
        },
    )


# --- batches ----------------------------------------------------------------------------------------------


@router.get("/batches")
def batches_page(request: Request, session: ReviewerSession, db: SessionDep) -> HTMLResponse:
    rows = [{"batch": batch, "progress": progress} for batch, progress in uploads.recent_batches(db, limit=50)]
    return _page(request, session, "batches.html", {"rows": rows, "nav": "batches"})


def _batch(db: SessionDep, session: signin.DashboardSession, batch_id: uuid.UUID) -> Batch:
    principal: Principal | None = session.principal
    assert principal is not None
    return uploads.get_batch(db, batch_id, principal)


@router.get("/batches/{batch_id}")
def batch_page(request: Request, batch_id: uuid.UUID, session: ReviewerSession, db: SessionDep) -> HTMLResponse:
    try:
        batch = _batch(db, session, batch_id)
    except NotFound as exc:
        return _page(request, session, "error.html", {"title": "找不到该批次", "message": exc.message}, 404)
    results = uploads.results(db, batch)
    return _page(
        request,
        session,
        "batch.html",
        {
            "batch": batch,
            "progress": uploads.progress(db, batch),
            "summaries": summarize(results),
            "question_ids": sorted({r.question_id for r in results if r.status != REJECTED}),
            "nav": "batches",
        },
    )


@router.get("/batches/{batch_id}/download")
def batch_download(
    batch_id: uuid.UUID, session: ReviewerSession, db: SessionDep, format: str = "xlsx", view: str = "answers"
) -> Response:
    # Lenient like the queue's filters: an unknown format or view falls back to the default.
    fmt: Format = "csv" if format == "csv" else "json" if format == "json" else "xlsx"
    sheet_view: View = "summary" if view == "summary" else "answers"
    batch = _batch(db, session, batch_id)
    file = uploads.download(db, batch, fmt, sheet_view)
    return Response(
        file.body,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


# --- assets -----------------------------------------------------------------------------------------------


@router.get("/vendor/plotly-{version}.min.js")
def plotly_asset(version: str) -> Response:
    path, installed = plotly_js()
    if version != installed:
        return RedirectResponse(f"/dashboard/vendor/plotly-{installed}.min.js", status_code=307)
    return FileResponse(
        path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=31536000, immutable"}
    )


# --- wiring -----------------------------------------------------------------------------------------------


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, signin.SignInRequired)
    return RedirectResponse(f"/dashboard/login?next={quote(exc.next_url)}", status_code=303)


async def _csrf(request: Request, exc: Exception) -> Response:
    message = "表单缺少有效的 CSRF 令牌（页面可能已过期）。请刷新页面后重试。"
    return render(request, "error.html", {"title": "请求被拒绝", "user": None, "csrf": "", "message": message}, 403)


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their two exception handlers to the app."""
    plotly_js()  # fail at startup, not on the first chart, when the package is missing
    templates.env.globals["plotly_url"] = f"/dashboard/vendor/plotly-{plotly_js()[1]}.min.js"
    app.include_router(router)
    from grader.dashboard import banks  # imported here: the bank pages build on this module

    app.include_router(banks.router)
    from grader.dashboard import candidates  # the same: built on this module's session and page helpers

    app.include_router(candidates.router)
    app.mount("/dashboard/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    app.add_exception_handler(signin.SignInRequired, _sign_in)
    app.add_exception_handler(signin.CsrfRejected, _csrf)
