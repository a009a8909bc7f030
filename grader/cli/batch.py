"""`grader batch answers.csv -o results.csv`: grade an answer sheet here, or on a running server.

Both ways read the sheet with the same rules (`grader.batches.parsing`) and report the same row errors.
Locally the engine runs in this process and nothing is stored; with `--server` the sheet is uploaded
to `POST /api/v1/batches`, progress is polled, and the results are downloaded when it is done.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from grader.batches.export import REJECTED, AnswerResult, Format, export, missed_key_points
from grader.errors import GraderError

err = Console(stderr=True)
SHOWN_ROW_ERRORS = 20


def _format(output: Path) -> Format:
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in ("csv", "xlsx", "json"):
        raise typer.BadParameter("the output must end in .csv, .xlsx or .json", param_hint="--output")
    fmt: Format = suffix  # type: ignore[assignment]
    return fmt


def _summary_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}-summary{output.suffix}")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("answers"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _report(info: dict[str, Any], errors: list[dict[str, Any]], total_errors: int) -> None:
    encoding = f", encoding {info['encoding']}" if info.get("encoding") else ""
    sheet = f", sheet '{info['sheet_name']}'" if info.get("sheet_name") else ""
    err.print(
        f"read {info['file_format']} ({info['layout']} format{encoding}{sheet}): "
        f"{info['accepted']} answers to grade, {total_errors} skipped"
    )
    for e in errors[:SHOWN_ROW_ERRORS]:
        where = f" [{e['column']}]" if e.get("column") else ""
        err.print(f"  row {e['row']}{where}: {e['reason']}", style="yellow", markup=False)
    if total_errors > SHOWN_ROW_ERRORS:
        err.print(
            f"  … and {total_errors - SHOWN_ROW_ERRORS} more row errors (all are in the JSON results "
            "of the server, or re-run after fixing these)"
        )


def _write(results: list[AnswerResult], output: Path, fmt: Format, meta: dict[str, Any]) -> None:
    output.write_bytes(export(results, fmt, "answers", batch=meta))
    written = [output]
    if fmt == "csv":
        _summary_path(output).write_bytes(export(results, "csv", "summary"))
        written.append(_summary_path(output))
    err.print("wrote " + " and ".join(str(p) for p in written))


def _grade_locally(path: Path, data: bytes, output: Path, fmt: Format) -> None:
    from grader.batches.parsing import parse_sheet
    from grader.db.session import get_session_factory, session_scope
    from grader.grading.grader import get_grader
    from grader.grading.record import needs_review
    from grader.grading.run import failure_reason
    from grader.questions.pins import latest_pins
    from grader.settings import get_settings

    settings = get_settings()
    if settings.embedded and settings.database_url.startswith("sqlite"):
        from grader.db.migrate import upgrade

        upgrade(settings.database_url)  # as `grader serve` does: the default bank comes with the schema
    grader = get_grader()
    # The questions of every published bank, each graded against its latest version (as a submission would be).
    with session_scope(get_session_factory(settings.database_url)) as session:
        pins = latest_pins(session)
        plan = grader.plan(session, [(p.question_id, p.content_hash) for p in pins.values()])
    questions = {qid: plan.references[p.content_hash].question for qid, p in pins.items()}
    sheet = parse_sheet(data, questions, filename=path.name, max_answer_chars=settings.max_answer_chars)
    errors = [{"row": e.row, "column": e.column, "reason": e.reason} for e in sheet.errors]
    _report(
        {
            "file_format": sheet.file_format,
            "layout": sheet.layout,
            "encoding": sheet.encoding,
            "sheet_name": sheet.sheet_name,
            "accepted": len(sheet.answers),
        },
        errors,
        len(errors),
    )
    results: list[AnswerResult] = []
    with _progress() as bar:
        task = bar.add_task("grading", total=len(sheet.answers))
        for a in sheet.answers:
            common: dict[str, Any] = {
                "candidate_id": a.candidate_id,
                "question_id": a.question_id,
                "row": a.row,
                "candidate_name": a.candidate_name,
                "candidate_email": a.candidate_email,
                "question": questions.get(a.question_id),
                "answer": a.answer,
            }
            try:
                r = grader.grade_planned(plan, [(pins[a.question_id].content_hash, a.answer)])[0]
            except Exception as exc:
                results.append(AnswerResult(**common, status="failed", error=failure_reason(exc)))
            else:
                status = "needs_review" if needs_review(r, settings.review_confidence_below) else "graded"
                results.append(
                    AnswerResult(
                        **common,
                        status=status,
                        score=r.score,
                        confidence=r.confidence,
                        flags=[f.value for f in r.flags],
                        missed_key_points=missed_key_points(r.key_points),
                        feedback=r.feedback,
                    )
                )
            bar.advance(task)
    # The refused rows too, with their row and reason, in sheet order (as the service's downloads).
    results += [
        AnswerResult(
            candidate_id=e.candidate_id or "",
            question_id=e.question_id or "",
            status=REJECTED,
            row=e.row,
            question=questions.get(e.question_id or ""),
            error=e.reason,
        )
        for e in sheet.errors
    ]
    results.sort(key=lambda r: r.row or 0)
    _write(results, output, fmt, {"filename": path.name, "content_hash": sheet.content_hash})


def _grade_on_server(
    path: Path, data: bytes, output: Path, fmt: Format, server: str, api_key: str, force: bool, poll: float
) -> None:
    import httpx

    with httpx.Client(base_url=server.rstrip("/"), headers={"X-API-Key": api_key}, timeout=120) as client:
        response = client.post(
            "/api/v1/batches", params={"force": str(force).lower()}, files={"file": (path.name, data)}
        )
        batch = _json_or_exit(response)
        if not batch["created"]:
            err.print(f"this file was uploaded before: batch {batch['id']} (use --force to grade it again)")
        _report({**batch, "accepted": batch["counts"]["accepted"]}, batch["row_errors"], batch["row_errors_total"])
        status_url = f"/api/v1/batches/{batch['id']}"
        with _progress() as bar:
            task = bar.add_task("grading", total=batch["counts"]["accepted"])
            while True:
                state = _json_or_exit(client.get(status_url))
                counts = state["counts"]
                bar.update(task, completed=counts["accepted"] - counts["pending"])
                if state["status"] == "done":
                    break
                time.sleep(poll)
        view: Literal["answers", "summary"]
        for view, target in (("answers", output), ("summary", _summary_path(output))):
            if view == "summary" and fmt != "csv":
                break  # xlsx and json carry the summary already
            result = client.get(f"{status_url}/results", params={"format": fmt, "view": view})
            if result.status_code != 200:
                _json_or_exit(result)
            target.write_bytes(result.content)
            err.print(f"wrote {target}")
        err.print(
            f"batch {batch['id']}: {counts['graded']} graded, {counts['needs_review']} need review, "
            f"{counts['failed']} failed"
        )


def _json_or_exit(response: Any) -> dict[str, Any]:
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        message = body.get("error", {}).get("message") or response.text[:500]
        err.print(f"error {response.status_code}: {message}", style="red", markup=False)
        raise typer.Exit(1)
    return body


def batch(
    sheet: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="answer sheet: .csv (UTF-8, BOM or GBK) or .xlsx"
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="results file: .csv, .xlsx or .json (csv also writes <name>-summary.csv)"),
    ] = None,
    server: Annotated[
        str | None, typer.Option(help="grade on a running grader API, e.g. http://host:8000", envvar="GRADER_SERVER")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="recruiter or admin key for --server", envvar="GRADER_API_KEY")
    ] = None,
    force: Annotated[bool, typer.Option(help="with --server: grade again a file uploaded before")] = False,
    poll: Annotated[float, typer.Option(help="seconds between progress checks with --server")] = 1.0,
) -> None:
    """Grade every answer in a sheet and write the results with a per-candidate summary."""
    output = output or sheet.with_name(f"{sheet.stem}-results.csv")
    fmt = _format(output)
    data = sheet.read_bytes()
    try:
        if server:
            if not api_key:
                raise typer.BadParameter("--server needs --api-key (or GRADER_API_KEY)", param_hint="--api-key")
            _grade_on_server(sheet, data, output, fmt, server, api_key, force, poll)
        else:
            _grade_locally(sheet, data, output, fmt)
    except GraderError as exc:
        err.print(f"error: {exc.message}", style="red", markup=False)
        raise typer.Exit(2) from exc


def register(app: typer.Typer) -> None:
    app.command()(batch)
