"""`/dashboard/banks`: question banks as data, from the same use cases the API and CLI call
(`grader.questions.banks`, `grader.questions.calibrations`): the list and import, a bank's page
(questions, versions, the drafts' diff against the latest version, publish, calibrations, audit
trail) and the key-point editor of one question's draft.

A bank's first days: until it has a calibration of its own, the bank page says what grades it (the
shipped calibration and its threshold for banks of generated key points) and how far its reviewed
answers are from the minimums a fit of its own needs (`grader.questions.reviewed`); once there are
enough, an admin may fit one here, the same fit as `grader calibrate --bank NAME --from-reviews`
(`grader.grading.calibrate.fit_from_reviews`), run in this process. The fit only adds an unpublished
version with its before/after figures and warnings: publishing it stays the separate admin act below it.

Who: admins change banks (import, edit, publish); reviewers may read every bank page, because they
judge answers against these key points, but see no forms (the editor shows its fields disabled) and
every POST refuses them. Recruiters cannot sign in to the dashboard at all. Every POST checks the
session's CSRF token first.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from grader.batches.parsing import MB
from grader.dashboard import signin
from grader.dashboard.pages import ReviewerSession, _page, templates
from grader.db.models import Role
from grader.errors import BankNotFound, Conflict, GraderError, InvalidBankFile, InvalidDraft, NotFound
from grader.grading.calibrate import fit_from_reviews
from grader.grading.grader import build_grader
from grader.questions import bank_admin
from grader.questions import banks as bank_cases
from grader.questions import calibrations as calibration_cases
from grader.questions.drafts import DraftEdit, KeyPointEdit
from grader.questions.reviewed import CalibrationReadiness, calibration_readiness
from grader.scoring.calibration import Calibration, load_calibration
from grader.scoring.types import Keyword, Reference
from grader.web.deps import SessionDep, SettingsDep, get_settings

router = APIRouter(prefix="/dashboard/banks", include_in_schema=False)

# Bigger banks go through the CLI or API; the body limit lets the upload through so this page can say so.
MAX_UPLOAD_BYTES = MB
EXTENSIONS = (".md", ".markdown", ".txt", ".jsonl", ".csv", ".xlsx", ".yaml", ".yml")
BLANK_KEYWORDS = 2  # empty keyword rows under each key point, for new keywords

FIELD_LABELS = {
    "question_id": "题号",
    "question": "题目",
    "reference_answer": "参考答案",
    "key_points": "要点",
    "text": "要点",
    "weight": "权重",
    "keywords": "关键词",
    "statements": "正确表述",
    "misconceptions": "常见误解",
    "correction": "更正说明",
    "curated": "人工修订",
    "file": "文件",
}
CHANGE_LABELS = {"added": "新增", "changed": "修改", "removed": "删除"}
IMPORT_LABELS = {"added": "新增", "updated": "更新", "unchanged": "未变"}
ID_FROM_LABELS = {"file": "文件指定", "bank": "按题目匹配", "derived": "自动生成"}
BANK_ACTIONS = {
    "bank.imported": "导入",
    "bank.draft_edited": "修改草稿",
    "bank.published": "发布",
    "calibration.added": "新增校准",
    "calibration.published": "发布校准",
}


def _is_admin(session: signin.DashboardSession) -> bool:
    return session.principal is not None and session.principal.role == Role.ADMIN


def _refuse_non_admin(request: Request, session: signin.DashboardSession) -> HTMLResponse | None:
    if _is_admin(session):
        return None
    message = "只有管理员可以导入、修改或发布题库；审核员可以查看题库。"
    return _page(request, session, "error.html", {"title": "没有权限", "message": message}, 403)


def _not_found(request: Request, session: signin.DashboardSession, exc: NotFound) -> HTMLResponse:
    return _page(request, session, "error.html", {"title": "找不到该题库或题目", "message": exc.message}, 404)


# --- what the templates show ------------------------------------------------------------------------


def keyword_text(keyword: dict[str, Any] | Keyword) -> str:
    k = keyword.model_dump() if isinstance(keyword, Keyword) else keyword
    aliases = k.get("aliases") or []
    return f"{k['term']}（{'、'.join(aliases)}）" if aliases else str(k["term"])


def value_text(name: str, value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if name == "weight":
        return f"{float(value):g}"
    if name == "curated":
        return "人工修订" if value else "自动生成"
    if name == "keywords":
        return "；".join(keyword_text(k) for k in value)
    if isinstance(value, list):
        return "；".join(str(v) for v in value)
    return str(value)


def list_change(name: str, old: Any, new: Any) -> list[tuple[str, str]]:
    """A list field's change as the items removed ("−") and added ("+"): readable where the whole
    old and new lists side by side are not."""
    show = keyword_text if name == "keywords" else str
    before = [show(v) for v in old or []]
    after = [show(v) for v in new or []]
    return [("−", v) for v in before if v not in after] + [("+", v) for v in after if v not in before]


def summary_text(summary: str) -> str:
    """`BankDiff.summary()` ("3 added, 1 changed, 0 removed, 11 unchanged") in Chinese."""
    words = {**CHANGE_LABELS, "unchanged": "未变"}
    parts = [m.groups() for m in re.finditer(r"(\d+) (\w+)", summary)]
    if not parts or any(w not in words for _, w in parts):
        return summary
    return "，".join(f"{words[w]} {n} 题" for n, w in parts)


def drafts_token(questions: list[bank_cases.QuestionSummary]) -> str:
    """Names the drafts a page showed: publishing refuses if they changed since (someone else's edit)."""
    pairs = sorted((q.question_id, q.draft_hash) for q in questions)
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


def question_state(q: bank_cases.QuestionSummary) -> str:
    if q.published_hash is None:
        return "new"
    return "pending" if q.pending else "published"


STATE_LABELS = {"new": "未发布（新题）", "pending": "草稿有改动", "published": "与已发布一致"}


def _globals() -> dict[str, Any]:
    return {
        "FIELD_LABELS": FIELD_LABELS,
        "CHANGE_LABELS": CHANGE_LABELS,
        "IMPORT_LABELS": IMPORT_LABELS,
        "ID_FROM_LABELS": ID_FROM_LABELS,
        "BANK_ACTIONS": BANK_ACTIONS,
        "BANK_STATE_LABELS": STATE_LABELS,
        "value_text": value_text,
        "list_change": list_change,
        "keyword_text": keyword_text,
        "summary_text": summary_text,
    }


# --- the list and import ----------------------------------------------------------------------------


def _list_page(
    request: Request,
    session: signin.DashboardSession,
    db: SessionDep,
    *,
    report: bank_cases.ImportReport | None = None,
    problem: str | None = None,
    row_errors: list[dict[str, Any]] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        session,
        "banks.html",
        {
            "banks": bank_cases.list_banks(db),
            "can_edit": _is_admin(session),
            "report": report,
            "problem": problem,
            "row_errors": row_errors or [],
            "form": form or {},
            "accept": ",".join(EXTENSIONS),
            "nav": "banks",
        },
        status_code,
    )


@router.get("")
def banks_page(request: Request, session: ReviewerSession, db: SessionDep) -> HTMLResponse:
    return _list_page(request, session, db)


@router.post("/import")
def import_form(
    request: Request,
    session: ReviewerSession,
    db: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
    bank: Annotated[str, Form(max_length=100)] = "",
    title: Annotated[str, Form(max_length=200)] = "",
    dry_run: Annotated[str, Form(max_length=10)] = "",
    publish: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    signin.check_csrf(session, csrf_token)
    if (refused := _refuse_non_admin(request, session)) is not None:
        return refused
    assert session.principal is not None
    form = {"bank": bank.strip(), "title": title.strip(), "dry_run": dry_run, "publish": publish}
    if file is None or not file.filename:
        return _list_page(request, session, db, problem="请选择要导入的文件。", form=form, status_code=422)
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        problem = "文件超过 1 MB，请用命令行 grader banks import 导入。"
        return _list_page(request, session, db, problem=problem, form=form, status_code=413)
    try:
        report = bank_admin.atomically(
            db,
            bank_cases.import_bank,
            db,
            form["bank"],
            data,
            file.filename,
            actor=session.principal,
            title=form["title"] or None,
            dry_run=bool(dry_run),
            publish=bool(publish) and not dry_run,
        )
    except InvalidBankFile as exc:
        problem = f"文件 {file.filename} 有 {exc.total} 处问题，没有导入任何题目。请改正后重新上传。"
        if exc.total > len(exc.errors):
            problem += f"（下面列出前 {len(exc.errors)} 处。）"
        return _list_page(
            request, session, db, problem=problem, row_errors=exc.errors, form=form, status_code=exc.status_code
        )
    except GraderError as exc:
        return _list_page(request, session, db, problem=exc.message, form=form, status_code=exc.status_code)
    return _list_page(request, session, db, report=report, form=form if report.dry_run else {})


# --- one bank ---------------------------------------------------------------------------------------


@router.get("/{bank}")
def bank_page(
    request: Request,
    bank: str,
    session: ReviewerSession,
    db: SessionDep,
    published: int = 0,
    calibrated: int = 0,
    fitted: int = 0,
) -> HTMLResponse:
    return _bank_page(request, session, db, bank, notice=_notice(published, calibrated, fitted))


def _notice(published: int, calibrated: int, fitted: int = 0) -> str | None:
    if published:
        return f"已发布为第 {published} 版。"
    if calibrated:
        return f"校准第 {calibrated} 版已发布，本题库此后按它评分。"
    if fitted:
        return f"已拟合校准第 {fitted} 版（未发布）。请核对下表中它的前后对比和警告；发布之前，本题库仍按现行校准评分。"
    return None


@lru_cache(maxsize=4)
def _shipped_calibration(path: Path, modified: int) -> Calibration:
    """The shipped calibration, read again only when its file changes (`modified`: its mtime)."""
    return load_calibration(path)


def shipped_calibration(request: Request) -> Calibration | None:
    """The calibration a bank without one of its own grades with; None if its file cannot be read (the
    page still shows, the grading itself reports the file)."""
    path = get_settings(request).calibration_file
    try:
        return _shipped_calibration(path, path.stat().st_mtime_ns)
    except (OSError, GraderError):
        return None


def missing_reviews(readiness: CalibrationReadiness) -> list[str]:
    """What a fit of the bank's own calibration still lacks, in the page's words; [] when nothing."""
    missing = []
    if readiness.answers_missing:
        text = f"还差 {readiness.answers_missing} 条可计入的复核答案"
        short = list(readiness.short_questions.items())
        if short:
            text += (
                f"（每题至少 {readiness.min_per_question} 条复核才计入；共复核 {readiness.reviewed} 条，"
                + "、".join(f"{q} 还差 {n} 条" for q, n in short[:10])
                + ("等" if len(short) > 10 else "")
                + "）"
            )
        missing.append(text)
    if readiness.reviewers_missing:
        who = "、".join(readiness.reviewers) or "无"
        missing.append(f"还需要至少 {readiness.min_reviewers} 位复核人的复核（现在：{who}）")
    return missing


def readiness_view(readiness: CalibrationReadiness, shipped: Calibration | None) -> dict[str, Any]:
    """The bank page's notice about the bank's own calibration: what grades it now, how far its reviewed
    answers are from a fit of its own, whether one can be fitted."""
    counts = (
        f"已复核 {readiness.usable} 条（需 ≥ {readiness.min_reviewed} 条，来自 ≥ {readiness.min_reviewers} 位复核人）"
    )
    if readiness.own_version is not None:
        headline = f"本题库按自己的校准第 {readiness.own_version} 版评分。{counts}。"
        grading = ""
    else:
        headline = f"本题库尚无自己的校准：{counts}。"
        version = f"（{shipped.version}）" if shipped is not None else ""
        grading = f"在有自己的校准之前，评分使用系统自带的校准参数{version}"
        if shipped is not None:
            grading += f"，按其中为自动生成要点的题库拟合的复核阈值送复核（大错风险 ≥ {shipped.review_risk:.2f}"
            if shipped.review_risk_curated is not None:
                grading += f"；人工修订过的要点按人工题库的阈值 {shipped.review_risk_curated:.2f}"
            grading += "）"
        grading += "。"
    if readiness.enough:
        who = f"{len(readiness.reviewers)} 位复核人（{'、'.join(readiness.reviewers)}）"
        enough = f"复核已足够拟合本题库自己的校准：{readiness.usable} 条，来自 {who}。"
    else:
        enough = ""
    return {
        "headline": headline,
        "grading": grading,
        "enough": enough,
        "missing": missing_reviews(readiness),
        "ready": readiness.enough,
    }


def _bank_page(
    request: Request,
    session: signin.DashboardSession,
    db: SessionDep,
    bank: str,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        found = next((b for b in bank_cases.list_banks(db) if b.name == bank), None)
        questions = bank_cases.list_questions(db, bank)
    except NotFound as exc:
        return _not_found(request, session, exc)
    assert found is not None
    versions = bank_cases.list_versions(db, bank)
    readiness = readiness_view(calibration_readiness(db, bank), shipped_calibration(request))
    return _page(
        request,
        session,
        "bank.html",
        {
            "bank": found,
            "questions": [{"q": q, "state": question_state(q)} for q in questions],
            "versions": list(reversed(versions)),
            "diff": bank_cases.diff_versions(db, bank),
            "texts": {q.question_id: q.question for q in questions},
            "token": drafts_token(questions),
            "next_version": (versions[-1].version + 1) if versions else 1,
            "calibrations": list(reversed(calibration_cases.list_calibrations(db, bank))),
            "readiness": readiness,
            "history": bank_admin.bank_history(db, bank),
            "can_edit": _is_admin(session),
            "notice": notice,
            "problem": problem,
            "nav": "banks",
        },
        status_code,
    )


@router.post("/{bank}/publish")
def publish_form(
    request: Request,
    bank: str,
    session: ReviewerSession,
    db: SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
    drafts: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    signin.check_csrf(session, csrf_token)
    if (refused := _refuse_non_admin(request, session)) is not None:
        return refused
    assert session.principal is not None
    try:
        current = drafts_token(bank_cases.list_questions(db, bank))
    except NotFound as exc:
        return _not_found(request, session, exc)
    if confirm != "yes":
        problem = "请先勾选确认框：发布后的版本不可更改。"
        return _bank_page(request, session, db, bank, problem=problem, status_code=422)
    if drafts != current:
        problem = "你查看之后草稿又被修改过（可能是其他管理员）。请核对下面最新的改动后再发布。"
        return _bank_page(request, session, db, bank, problem=problem, status_code=409)
    try:
        report = bank_admin.atomically(db, bank_cases.publish_bank, db, bank, actor=session.principal)
    except GraderError as exc:
        return _bank_page(request, session, db, bank, problem=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/dashboard/banks/{quote(bank)}?published={report.version}", status_code=303)


@router.post("/{bank}/calibrations/{version}/publish")
def publish_calibration_form(
    request: Request,
    bank: str,
    version: int,
    session: ReviewerSession,
    db: SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
    confirm_warnings: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    signin.check_csrf(session, csrf_token)
    if (refused := _refuse_non_admin(request, session)) is not None:
        return refused
    assert session.principal is not None
    if confirm != "yes":
        problem = "请先勾选确认框：发布的校准会用于本题库此后的评分。"
        return _bank_page(request, session, db, bank, problem=problem, status_code=422)
    try:
        bank_admin.atomically(
            db,
            calibration_cases.publish_calibration,
            db,
            bank,
            version,
            actor=session.principal,
            confirm=confirm_warnings.split(","),
        )
    except Conflict as exc:
        return _bank_page(request, session, db, bank, problem=exc.message, status_code=409)
    except NotFound as exc:
        return _not_found(request, session, exc)
    return RedirectResponse(f"/dashboard/banks/{quote(bank)}?calibrated={version}", status_code=303)


@router.post("/{bank}/calibrations/fit")
def fit_calibration_form(
    request: Request,
    bank: str,
    session: ReviewerSession,
    db: SessionDep,
    settings: SettingsDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Fit the bank's own calibration from its reviews, as the CLI does: a new unpublished version."""
    signin.check_csrf(session, csrf_token)
    if (refused := _refuse_non_admin(request, session)) is not None:
        return refused
    assert session.principal is not None
    try:
        missing = missing_reviews(calibration_readiness(db, bank))
    except BankNotFound as exc:
        return _not_found(request, session, exc)
    if missing:  # said in the page's words, before the embedder is loaded for nothing
        problem = "没有拟合：" + "；".join(missing) + "。"
        return _bank_page(request, session, db, bank, problem=problem, status_code=422)
    try:
        grader = build_grader(settings)
        report = bank_admin.atomically(
            db,
            fit_from_reviews,
            db,
            grader,
            bank,
            actor=session.principal,
            review_below=settings.review_confidence_below,
        )
    except GraderError as exc:  # the fit's own refusals (an embedder the calibration was not fitted with, …)
        problem = f"拟合失败，没有新增校准版本：{exc.message}"
        return _bank_page(request, session, db, bank, problem=problem, status_code=exc.status_code)
    return RedirectResponse(f"/dashboard/banks/{quote(bank)}?fitted={report.version}", status_code=303)


# --- the key-point editor ---------------------------------------------------------------------------


@dataclass
class KeyPointForm:
    """One key point as the editor's fields hold it (strings, as typed), with its errors by field."""

    index: int
    id: str = ""
    text: str = ""
    weight: str = ""
    keywords: list[tuple[str, str]] = field(default_factory=list)  # (term, aliases separated by commas)
    statements: str = ""
    misconceptions: str = ""
    correction: str = ""
    curated: bool = False
    remove: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def is_blank(self) -> bool:
        return not (self.text.strip() or self.weight.strip() or any(t.strip() for t, _ in self.keywords))


def _forms_of(draft: Reference) -> list[KeyPointForm]:
    return [
        KeyPointForm(
            index=i,
            id=kp.id,
            text=kp.text,
            weight=f"{kp.weight:g}",
            keywords=[(k.term, ", ".join(k.aliases)) for k in kp.keywords],
            statements="\n".join(kp.statements),
            misconceptions="\n".join(kp.misconceptions),
            correction=kp.correction or "",
            curated=kp.curated,
        )
        for i, kp in enumerate(draft.key_points)
    ]


_FIELD = re.compile(r"^k(\d{1,3})_")
_ALIAS_SPLIT = re.compile(r"[,，;；]")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _parse_forms(fields: dict[str, str]) -> list[KeyPointForm]:
    indices = sorted({int(m.group(1)) for name in fields if (m := _FIELD.match(name))})
    forms = []
    for i in indices:

        def get(name: str, i: int = i) -> str:
            return fields.get(f"k{i}_{name}", "")

        keywords = []
        for j in range(100):
            if f"k{i}_kw{j}_term" not in fields:
                break
            term, aliases = get(f"kw{j}_term").strip(), get(f"kw{j}_aliases").strip()
            if term or aliases:
                keywords.append((term, aliases))
        forms.append(
            KeyPointForm(
                index=i,
                id=get("id").strip(),
                text=get("text").strip(),
                weight=get("weight").strip(),
                keywords=keywords,
                statements=get("statements"),
                misconceptions=get("misconceptions"),
                correction=get("correction").strip(),
                curated=get("curated") == "1",
                remove=get("remove") == "yes",
            )
        )
    return forms


def _edits(forms: list[KeyPointForm]) -> tuple[list[KeyPointEdit], list[KeyPointForm]]:
    """The key points to save (new ones get the next free id), with the form each came from; field
    problems the dashboard can see by itself are put on the forms."""
    kept = [f for f in forms if not f.remove and not (not f.id and f.is_blank)]
    used = {f.id for f in forms if f.id}
    edits: list[KeyPointEdit] = []
    for form in kept:
        if not form.id:
            form.id = next(f"kp{n}" for n in range(1, 100) if f"kp{n}" not in used)
            used.add(form.id)
        try:
            weight = float(form.weight)
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight):
            form.errors["weight"] = "请填写 0 到 1 之间的数字，如 0.25"
        keywords = [
            Keyword(term=term, aliases=[a.strip() for a in _ALIAS_SPLIT.split(aliases) if a.strip()])
            for term, aliases in form.keywords
            if term
        ]
        if any(aliases.strip() and not term for term, aliases in form.keywords):
            form.errors["keywords"] = "填写了别名的行也要填写关键词本身"
        edits.append(
            KeyPointEdit(
                id=form.id,
                text=form.text,
                weight=weight if math.isfinite(weight) else 0.0,
                keywords=keywords,
                statements=_lines(form.statements),
                misconceptions=_lines(form.misconceptions),
                correction=form.correction or None,
            )
        )
    return edits, kept


def _draft_error(field_path: str, message: str) -> tuple[int | None, str, str]:
    """(key point's position among the saved ones, form field, Chinese message) for one of
    `InvalidDraft`'s errors; position None: about the key points together (their weights)."""
    parts = field_path.split(".") if field_path else []
    if "must add up" in message:
        found = re.search(r"add up to ([\d.]+)$", message)
        return None, "weights", f"各要点的权重之和必须为 1.0，现在是 {found.group(1) if found else '?'}"
    if len(parts) < 3 or parts[0] != "key_points" or not parts[1].isdigit():
        return None, "weights", "至少保留一个要点" if parts == ["key_points"] else message
    position, name = int(parts[1]), parts[2]
    chinese = {
        "weight": "权重应大于 0、不超过 1",
        "keywords": "至少需要一个关键词（空的行会被忽略）",
        "text": "要点内容不能为空",
    }.get(name, message)
    return position, name, chinese


def _editor(
    request: Request,
    session: signin.DashboardSession,
    db: SessionDep,
    bank: str,
    question_id: str,
    *,
    forms: list[KeyPointForm] | None = None,
    problems: list[str] | None = None,
    weights_error: str | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        draft = bank_cases.get_draft(db, bank, question_id)
    except NotFound as exc:
        return _not_found(request, session, exc)
    summary = next(q for q in bank_cases.list_questions(db, bank) if q.question_id == question_id)
    forms = forms if forms is not None else _forms_of(draft)
    can_edit = _is_admin(session)
    if can_edit and not any(f.is_blank and not f.id for f in forms):
        forms = [*forms, KeyPointForm(index=max((f.index for f in forms), default=-1) + 1)]
    for form in forms if can_edit else ():
        form.keywords = [*form.keywords, *[("", "")] * BLANK_KEYWORDS]
    total = sum(_number(f.weight) for f in forms if not f.remove)
    return _page(
        request,
        session,
        "bank_question.html",
        {
            "bank": bank,
            "draft": draft,
            "summary": summary,
            "state": question_state(summary),
            "forms": forms,
            "total": total,
            "problems": problems or [],
            "draft_hash": draft.content_hash,
            "weights_error": weights_error,
            "saved": saved,
            "can_edit": can_edit,
            "nav": "banks",
        },
        status_code,
    )


@router.get("/{bank}/questions/{question_id}")
def question_page(
    request: Request, bank: str, question_id: str, session: ReviewerSession, db: SessionDep, saved: int = 0
) -> HTMLResponse:
    return _editor(request, session, db, bank, question_id, saved=bool(saved))


@router.post("/{bank}/questions/{question_id}")
async def question_form(
    request: Request, bank: str, question_id: str, session: ReviewerSession, db: SessionDep
) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    signin.check_csrf(session, fields.get("csrf_token"))
    if (refused := _refuse_non_admin(request, session)) is not None:
        return refused
    assert session.principal is not None
    try:
        current = bank_cases.get_draft(db, bank, question_id)
    except NotFound as exc:
        return _not_found(request, session, exc)
    forms = _parse_forms(fields)
    if fields.get("draft") != current.content_hash:
        # Someone saved this draft after the page was opened: say so, keep what was typed.
        problem = (
            "此题的草稿在你打开页面之后被修改过（可能是其他管理员）。"
            "你填写的内容仍在下面；核对后再次保存会覆盖对方的修改。"
        )
        return _editor(request, session, db, bank, question_id, forms=forms, problems=[problem], status_code=409)
    edits, kept = _edits(forms)
    weights_error = None
    if not any(f.errors for f in forms):
        try:
            bank_admin.atomically(
                db,
                bank_cases.edit_draft,
                db,
                bank,
                question_id,
                DraftEdit(key_points=edits),
                actor=session.principal,
            )
        except InvalidDraft as exc:
            for error in exc.details.get("errors", []):
                position, name, message = _draft_error(str(error.get("field", "")), str(error.get("message", "")))
                if position is not None and position < len(kept):
                    kept[position].errors.setdefault(name, message)
                else:
                    weights_error = weights_error or message
        except NotFound as exc:
            return _not_found(request, session, exc)
        else:
            return RedirectResponse(
                f"/dashboard/banks/{quote(bank)}/questions/{quote(question_id)}?saved=1", status_code=303
            )
    return _editor(
        request,
        session,
        db,
        bank,
        question_id,
        forms=forms,
        problems=["没有保存：请改正标出的字段。"],
        weights_error=weights_error,
        status_code=422,
    )


templates.env.globals.update(_globals())
