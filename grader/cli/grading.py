"""`grader grade`, `eval` and `calibrate`: the grading core from the command line."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.errors import GraderError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from grader.scoring.calibration import Calibration
    from grader.scoring.types import ScoreResult
from grader.settings import get_settings

console = Console()


def fail(error: GraderError) -> typer.Exit:
    """Print the error's message and the exit to raise (code 2: the input was at fault)."""
    Console(stderr=True).print(f"[bold red]error:[/] {error.message}", highlight=False)
    return typer.Exit(code=2)


def grade(
    question_id: Annotated[str, typer.Argument(help="question id, e.g. q06 or le-005 (see `grader banks list`)")],
    answer: Annotated[str, typer.Argument(help="the candidate's answer; '-' reads it from standard input")],
    as_json: Annotated[bool, typer.Option("--json", help="print the full ScoreResult as JSON")] = False,
) -> None:
    """Grade one answer against its question's latest published version (any bank) and show the breakdown."""
    from grader.cli.banks import run

    text = sys.stdin.read() if answer == "-" else answer
    result = run(lambda session: _grade_published(session, question_id, text))
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    flags = ", ".join(f.value for f in result.flags) or "none"
    console.print(
        f"[bold]{question_id}[/]  score [bold]{result.score:.0f}[/]/100  "
        f"confidence {result.confidence:.2f}  flags: {flags}",
        highlight=False,
    )
    table = Table("key point", "weight", "credit", "sim", "keywords hit", "missed", "evidence")
    for kp in result.key_points:
        credit = Text(f"{kp.credit:.2f}", style="red" if kp.contradicted else "green" if kp.credit >= 0.6 else "")
        if kp.contradicted:
            credit.append(" ✗ contradicted")
        table.add_row(
            kp.text,
            f"{kp.weight:.2f}",
            credit,
            f"{kp.similarity:.2f}",
            ", ".join(kp.keywords_hit),
            ", ".join(kp.keywords_missed),
            kp.evidence.text if kp.evidence else "",
        )
    console.print(table)
    console.print(result.feedback, highlight=False)


def _grade_published(session: Session, question_id: str, answer: str) -> ScoreResult:
    from grader.errors import QuestionNotFound
    from grader.grading.grader import get_grader
    from grader.questions.pins import latest_pins, question_hint

    pin = latest_pins(session, [question_id]).get(question_id)
    if pin is None:
        raise QuestionNotFound(question_id, question_hint(session))
    grader = get_grader()
    plan = grader.plan(session, [(question_id, pin.content_hash)])
    return grader.grade_planned(plan, [(pin.content_hash, answer)])[0]


def evaluate(
    path: Annotated[
        Path,
        typer.Argument(help="JSON lines with id, question_id, answer (and score, label)", exists=True, dir_okay=False),
    ],
    predictions: Annotated[Path | None, typer.Option(help="write one JSON line per row here")] = None,
) -> None:
    """Grade every row of a file; with labels, print Spearman, QWK, MAE and means per label."""
    from grader.evaluation import evaluate as run
    from grader.evaluation import read_rows
    from grader.grading.grader import get_grader

    try:
        report = run(get_grader(), read_rows(path))
    except GraderError as error:
        raise fail(error) from error
    if predictions:
        predictions.write_text("\n".join(report.prediction_lines()) + "\n", encoding="utf-8")
        console.print(f"wrote {len(report.rows)} predictions to {predictions}")
    if not report.labelled:
        console.print(f"graded {len(report.rows)} rows (no 'score' field: no metrics)")
        return
    table = Table("metric", "grader", "baseline (whole-answer cosine)")
    ours, base = report.metrics(), report.baseline_metrics()
    for key in ("spearman", "qwk", "mae"):
        table.add_row(key, f"{ours[key]:.3f}", f"{base[key]:.3f}")
    console.print(table)
    by_label = Table("label", "mean score (0-100)")
    for label, mean in report.mean_by_label().items():
        by_label.add_row(label, f"{mean:.1f}")
    console.print(by_label)


def calibrate(
    path: Annotated[
        Path | None,
        typer.Argument(help="labelled JSON lines (question_id, answer, score 0–10)", exists=True, dir_okay=False),
    ] = None,
    bank: Annotated[
        str | None, typer.Option(help="fit this bank's own calibration: a new, unpublished calibration version")
    ] = None,
    from_reviews: Annotated[
        bool, typer.Option("--from-reviews", help="fit on the reviewers' final scores stored for --bank")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="also write the fitted calibration to this JSON file")] = None,
    write_shipped: Annotated[
        bool, typer.Option("--write-shipped", help="overwrite the shipped calibration (GRADER_CALIBRATION_FILE)")
    ] = False,
) -> None:
    """Fit the signal-to-score mapping (5-fold cross-validated). With --bank: on a labelled file or the
    bank's reviewed answers, stored as a new calibration version to publish with
    `grader banks publish-calibration`. Without --bank: on the curated bank's YAML (the dev set), written
    only where --out or --write-shipped says."""
    from grader.scoring.calibration import save_calibration

    settings = get_settings()
    if (path is None) == (not from_reviews):
        raise fail(GraderError("give either a labelled FILE or --from-reviews"))
    if from_reviews and bank is None:
        raise fail(GraderError("--from-reviews needs --bank NAME: reviews are stored per bank"))
    if bank is None and out is None and not write_shipped:
        raise fail(
            GraderError(
                "say where the fit goes: --bank NAME (a new calibration version of that bank), "
                "--out FILE, or --write-shipped to overwrite the shipped calibration"
            )
        )
    source = path.name if path is not None else f"reviews of bank {bank}"
    command = "grader calibrate " + " ".join(
        shlex.quote(a) for a in ([f"--bank={bank}"] if bank else []) + ([path.name] if path else ["--from-reviews"])
    )
    try:
        fitted: Calibration = (
            _calibrate_bank(bank, path, source, command) if bank else _calibrate_curated(path, source, command)
        )
    except GraderError as error:
        from grader.cli.banks import fail as fail_by_row

        raise fail_by_row(error) from error
    for target in [t for t in (out, settings.calibration_file if write_shipped else None) if t is not None]:
        save_calibration(fitted, target)
        console.print(f"wrote {target}")


def _calibrate_curated(path: Path | None, source: str, command: str) -> Calibration:
    from grader.evaluation import fit_calibration, read_rows
    from grader.grading.grader import build_grader
    from grader.scoring.calibration import unfitted

    assert path is not None
    fitted = fit_calibration(
        build_grader(get_settings(), calibration=unfitted()), read_rows(path), source=source, command=command
    )
    console.print("cross-validated: " + ", ".join(f"{k}={v}" for k, v in fitted.cv_metrics.items()))
    return fitted


def _calibrate_bank(bank: str, path: Path | None, source: str, command: str) -> Calibration:
    from grader.db.session import get_session_factory, session_scope
    from grader.grading.calibrate import calibrate_bank, read_labelled, reviewed_answers
    from grader.grading.grader import build_grader
    from grader.keys.principal import CLI

    settings = get_settings()
    with session_scope(get_session_factory(settings.database_url)) as session:
        rows = read_labelled(path) if path is not None else reviewed_answers(session, bank)
        report = calibrate_bank(session, build_grader(settings), bank, rows, source=source, command=command, actor=CLI)
    table = Table("agreement", "before (current: " + report.current + ")", "after (5-fold cross-validated)")
    for metric in report.after:
        table.add_row(metric, f"{report.before.get(metric, float('nan')):.3f}", f"{report.after[metric]:.3f}")
    console.print(f"bank '{bank}': {report.examples} labelled answers")
    console.print(table)
    console.print(
        f"stored as calibration version {report.version} (unpublished); "
        f"publish it with `grader banks publish-calibration {bank} {report.version}`"
    )
    return report.calibration


def register(app: typer.Typer) -> None:
    app.command()(grade)
    app.command("eval")(evaluate)
    app.command()(calibrate)
