"""`grader banks import|publish|list|export|diff|regrade|publish-calibration`: question banks in the
database, acting as the `cli` principal. Errors are printed with their row numbers, never a traceback."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from grader.cli.common import safe_url, shown_time
from grader.errors import GraderError, InvalidBankFile
from grader.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

console = Console()
err = Console(stderr=True)
T = TypeVar("T")

banks_app = typer.Typer(help="Question banks: import, publish, export, diff, re-grade.", no_args_is_help=True)


def fail(error: GraderError) -> typer.Exit:
    """The message, then every numbered row problem an import or fit found (exit code 2)."""
    if isinstance(error, InvalidBankFile) and error.errors:
        err.print(f"[bold red]error:[/] {error.total} problem(s); nothing was written", highlight=False)
        for problem in error.errors:
            err.print(f"  row {problem['row']}, {problem['field']}: {problem['message']}", highlight=False)
        if error.total > len(error.errors):
            err.print(f"  … and {error.total - len(error.errors)} more", highlight=False)
    else:
        err.print(f"[bold red]error:[/] {error.message}", highlight=False)
    return typer.Exit(code=2)


@contextmanager
def session() -> Iterator[Session]:
    """One transaction: committed if the command succeeds, rolled back (nothing written) if it fails."""
    from grader.db.migrate import prepare_database
    from grader.db.session import get_session_factory, session_scope

    settings = get_settings()
    prepare_database(settings)  # as `grader serve` does: the default bank comes with the schema
    with session_scope(get_session_factory(settings.database_url)) as s:
        yield s


def run(work: Callable[[Session], T]) -> T:
    from sqlalchemy.exc import DBAPIError

    try:
        with session() as s:
            return work(s)
    except GraderError as error:
        raise fail(error) from error
    except DBAPIError as exc:
        url = safe_url(get_settings().database_url)
        problem = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        raise fail(
            GraderError(f"database {url}: {problem}; is it reachable and migrated (`grader db upgrade`)?")
        ) from exc


@banks_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="Markdown/text, JSONL, CSV, XLSX or a YAML export", dir_okay=False)],
    bank: Annotated[str, typer.Option("--bank", help="bank name, e.g. le (created if new)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate and report, write nothing")] = False,
    publish: Annotated[bool, typer.Option("--publish", help="publish the generated drafts at once")] = False,
    title: Annotated[str | None, typer.Option(help="the bank's title (default: the document's)")] = None,
) -> None:
    """Read a bank document or table into the bank's drafts, generating key points, keywords and aliases."""
    from grader.keys.principal import CLI
    from grader.questions.banks import import_bank

    if not file.is_file():
        raise fail(GraderError(f"{file} does not exist or is not a file"))
    data = file.read_bytes()
    started = time.perf_counter()
    report = run(
        lambda s: import_bank(s, bank, data, file.name, actor=CLI, title=title, dry_run=dry_run, publish=publish)
    )
    counts = report.counts()
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{verb} {len(report.questions)} questions into bank '{bank}' ({report.file_format}"
        f"{', new bank' if report.new_bank else ''}): {counts['added']} added, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged, {len(report.removed)} removed "
        f"in {time.perf_counter() - started:.1f} s",
        highlight=False,
    )
    if report.published is not None:
        console.print(f"published version {report.published.version} ({report.published.digest})")
    elif report.note:
        console.print(report.note)
    elif not dry_run:
        console.print(f"drafts written; review them, then `grader banks publish {bank}`")


@banks_app.command("publish")
def publish_command(bank: Annotated[str, typer.Argument(help="bank name")]) -> None:
    """The drafts become the bank's next immutable version; new submissions are graded against it."""
    from grader.keys.principal import CLI
    from grader.questions.banks import publish_bank

    report = run(lambda s: publish_bank(s, bank, actor=CLI))
    console.print(f"bank '{bank}' version {report.version} published ({report.digest}): {report.diff.summary()}")


@banks_app.command("list")
def list_command() -> None:
    """Every bank: questions, latest published version, drafts waiting to be published."""
    from grader.questions.banks import list_banks

    table = Table("bank", "title", "questions", "version", "published", "pending")
    for b in run(list_banks):
        published = shown_time(b.published_at)
        table.add_row(b.name, b.title, str(b.questions), str(b.version or "-"), published, str(b.pending))
    console.print(table)


@banks_app.command("export")
def export_command(
    bank: Annotated[str, typer.Argument(help="bank name")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="file to write (default: standard output)")] = None,
    version: Annotated[int | None, typer.Option(help="a published version (default: the latest)")] = None,
    drafts: Annotated[bool, typer.Option("--drafts", help="export the drafts instead")] = False,
) -> None:
    """The bank as YAML, which `grader banks import` reads back as it is."""
    from grader.questions.banks import export_bank

    text = run(lambda s: export_bank(s, bank, version, drafts=drafts))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"wrote {out}")


@banks_app.command("diff")
def diff_command(
    bank: Annotated[str, typer.Argument(help="bank name")],
    old: Annotated[int | None, typer.Option(help="from this version (default: the one before --new)")] = None,
    new: Annotated[int | None, typer.Option(help="to this version (default: the drafts)")] = None,
) -> None:
    """What changed between two versions, or what publishing the drafts would change."""
    from grader.questions.banks import diff_versions

    diff = run(lambda s: diff_versions(s, bank, old, new))
    console.print(diff.summary(), highlight=False)
    for question in diff.model_dump()["questions"]:
        console.print(_question_line(question), highlight=False)


def _question_line(question: dict[str, Any]) -> str:
    text = " ".join((question.get("question") or "").split())
    label = text if len(text) <= 40 else text[:39] + "…"
    parts = [f"  {question['change']:9} {question['question_id']}" + (f" {label}" if label else "")]
    if question["fields"]:
        parts.append("fields: " + ", ".join(c["field"] for c in question["fields"]))
    if question["key_points"]:
        parts.append("key points: " + ", ".join(f"{kp['change']} {kp['id']}" for kp in question["key_points"]))
    return "  ".join(parts)


@banks_app.command("regrade")
def regrade_command(
    bank: Annotated[str, typer.Argument(help="bank name")],
    question_id: Annotated[str | None, typer.Option("--question", help="only this question")] = None,
) -> None:
    """Grade the bank's finished answers again against its latest published version (queued to the
    workers; the earlier grades stay in each result's history)."""
    from grader.grading.regrade import regrade
    from grader.keys.principal import CLI
    from grader.queue.celery_queue import CeleryQueue
    from grader.queue.port import Queue

    settings = get_settings()
    queue: Queue = _LeftToTheServer() if settings.embedded else CeleryQueue.for_api(settings)
    report = run(lambda s: regrade(s, bank, actor=CLI, queue=queue, question_id=question_id))
    console.print(f"queued {report.queued} answers of bank '{bank}' for version {report.version}")
    if settings.embedded and report.queued:
        console.print(
            f"embedded mode: `grader serve` picks them up within {settings.stuck_after_seconds} s "
            "(its sweep re-queues pending answers)"
        )


class _LeftToTheServer:
    """Embedded mode has no broker: the answers stay pending for the server's own sweep."""

    def enqueue(self, submission_id: uuid.UUID) -> None:
        pass

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        pass


@banks_app.command("publish-calibration")
def publish_calibration_command(
    bank: Annotated[str, typer.Argument(help="bank name")],
    version: Annotated[int, typer.Argument(help="calibration version (see `grader banks calibrations`)")],
    confirm: Annotated[
        str, typer.Option(help="warning codes of the fit you confirm, comma-separated (the refusal names them)")
    ] = "",
) -> None:
    """Grade the bank with this calibration version from now on (a fit that warned needs --confirm)."""
    from grader.keys.principal import CLI
    from grader.questions.calibrations import publish_calibration

    info = run(lambda s: publish_calibration(s, bank, version, actor=CLI, confirm=confirm.split(",")))
    console.print(f"bank '{bank}' now grades with calibration version {info.version} ({info.calibration.version})")


@banks_app.command("calibrations")
def calibrations_command(bank: Annotated[str, typer.Argument(help="bank name")]) -> None:
    """The bank's calibration versions (none published: it grades with the shipped calibration)."""
    from grader.questions.calibrations import list_calibrations

    table = Table("version", "calibration", "fitted on", "cross-validated", "published")
    for info in run(lambda s: list_calibrations(s, bank)):
        metrics = ", ".join(f"{k.removeprefix('cv_')}={v}" for k, v in info.calibration.cv_metrics.items())
        published = shown_time(info.published_at)
        table.add_row(str(info.version), info.calibration.version, info.source, metrics, published)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(banks_app, name="banks")
