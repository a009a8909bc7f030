"""`grader batch answers.csv -o results.csv`: grade an answer sheet here, or on a running server.

Both ways go through the batch use case (`grader.batches.uploads`): the same parsing and row errors, the
same chunked grading, the same download. Locally the batch is stored in this machine's database (the
embedded default: ./grader.db) and its chunks are graded in this process; with `--server` the sheet is
uploaded to `POST /api/v1/batches`, progress is polled, and the results are downloaded when it is done.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from grader.batches.export import Format
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
    ignored = (info.get("columns") or {}).get("ignored_reasons") or []
    dropped = f", {len(ignored)} column{'s' if len(ignored) != 1 else ''} ignored" if ignored else ""
    err.print(
        f"read {info['file_format']} ({info['layout']} format{encoding}{sheet}): "
        f"{info['accepted']} answers to grade, {total_errors} rows skipped{dropped}"
    )
    # A column the sheet has but nothing reads is said out loud, with why: its answers are not graded.
    for c in ignored:
        err.print(f"  column '{c['column']}' ignored: {c['reason']}", style="yellow", markup=False)
    for e in errors[:SHOWN_ROW_ERRORS]:
        where = f" [{e['column']}]" if e.get("column") else ""
        err.print(f"  row {e['row']}{where}: {e['reason']}", style="yellow", markup=False)
    if total_errors > SHOWN_ROW_ERRORS:
        err.print(
            f"  … and {total_errors - SHOWN_ROW_ERRORS} more row errors (all are in the JSON results "
            "of the server, or re-run after fixing these)"
        )


class _Chunks:
    """The batch use case's queue for a local run: its chunks are graded here, in this process."""

    def __init__(self) -> None:
        self.chunks: list[Sequence[uuid.UUID]] = []

    def enqueue(self, submission_id: uuid.UUID) -> None:
        self.chunks.append([submission_id])

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        self.chunks.append(submission_ids)


def _grade_locally(path: Path, data: bytes, output: Path, fmt: Format) -> None:
    """The server's batch use case on this machine's database (the embedded default: ./grader.db, migrated
    on first use): the same parsing, the same chunks graded as a worker grades them (`run_chunk`), the same
    download. The batch is stored, so its answers show on the dashboard for review."""
    from grader.batches.parsing import parse_sheet
    from grader.batches.uploads import create_batch, download, get_batch, gradable_questions
    from grader.db.migrate import prepare_database
    from grader.db.session import get_session_factory, session_scope
    from grader.grading.grader import get_grader
    from grader.grading.run import run_chunk
    from grader.keys.principal import CLI
    from grader.settings import get_settings

    settings = get_settings()
    prepare_database(settings)
    factory = get_session_factory(settings.database_url)
    queue = _Chunks()
    with session_scope(factory) as session:
        questions = gradable_questions(session)
        sheet = parse_sheet(data, questions, filename=path.name, max_answer_chars=settings.max_answer_chars)
        created = create_batch(session, sheet, filename=path.name, actor=CLI, queue=queue)
        batch_id, columns = created.id, created.columns
    errors = [{"row": e.row, "column": e.column, "reason": e.reason} for e in sheet.errors]
    _report(
        {
            "file_format": sheet.file_format,
            "layout": sheet.layout,
            "encoding": sheet.encoding,
            "sheet_name": sheet.sheet_name,
            "accepted": len(sheet.answers),
            "columns": columns,
        },
        errors,
        len(errors),
    )
    with _progress() as bar:
        task = bar.add_task("grading", total=len(sheet.answers))
        for ids in queue.chunks:
            run_chunk(factory, ids, get_grader, settings.review_confidence_below)
            bar.advance(task, len(ids))
    view: Literal["answers", "summary"]
    with session_scope(factory) as session:
        batch = get_batch(session, batch_id, CLI)
        for view, target in (("answers", output), ("summary", _summary_path(output))):
            if view == "summary" and fmt != "csv":
                break  # xlsx and json carry the summary already
            target.write_bytes(download(session, batch, fmt, view).body)
            err.print(f"wrote {target}")


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
