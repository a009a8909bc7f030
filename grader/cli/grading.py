"""`grader grade`, `eval` and `calibrate`: the grading core from the command line."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from grader.errors import GraderError
from grader.settings import get_settings

if TYPE_CHECKING:
    from grader.scoring.types import KeyPointResult

console = Console()


def fail(error: GraderError) -> typer.Exit:
    """Print the error's message and the exit to raise (code 2: the input was at fault)."""
    Console(stderr=True).print(f"[bold red]error:[/] {error.message}", highlight=False)
    return typer.Exit(code=2)


def grade(
    question_id: Annotated[str, typer.Argument(help="question id, e.g. q06 or q6 (see `grader refs list`)")],
    answer: Annotated[str, typer.Argument(help="the candidate's answer; '-' reads it from standard input")],
    as_json: Annotated[bool, typer.Option("--json", help="print the full ScoreResult as JSON")] = False,
) -> None:
    """Grade one answer and show the breakdown."""
    from grader.grading.grader import get_grader
    from grader.questions.ids import normalize_question_id

    text = sys.stdin.read() if answer == "-" else answer
    try:
        grader = get_grader()
        question_id = normalize_question_id(question_id, grader.bank)
        result = grader.grade(question_id, text)
    except GraderError as error:
        raise fail(error) from error
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    out = _output_console()
    flags = ", ".join(f.value for f in result.flags) or "none"
    out.print(
        f"[bold]{question_id}[/]  score [bold]{result.score:.0f}[/]/100  "
        f"confidence {result.confidence:.2f}  flags: {flags}",
        highlight=False,
    )
    if out.is_terminal:
        out.print(_key_point_table(result.key_points))
    else:
        # A pipe or a file: one key point per block, every text in full, nothing cut to a column width.
        for kp in result.key_points:
            out.print(_key_point_lines(kp), highlight=False, markup=False, soft_wrap=True)
    out.print(result.feedback, highlight=False, markup=False, soft_wrap=True)


def _output_console() -> Console:
    # Off a terminal rich assumes 80 columns; the plain lines are printed unwrapped (soft_wrap) anyway.
    return console if console.is_terminal else Console(width=200, no_color=True, highlight=False)


def _key_point_table(key_points: Sequence[KeyPointResult]) -> Table:
    # Every column folds: a long key point or evidence wraps onto more lines instead of ending in "…".
    table = Table(
        *(
            Column(name, overflow="fold", no_wrap=False)
            for name in ("key point", "weight", "credit", "sim", "keywords hit", "missed", "evidence")
        )
    )
    for kp in key_points:
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
    return table


def _key_point_lines(kp: KeyPointResult) -> str:
    credit = f"{kp.credit:.2f}" + (" contradicted" if kp.contradicted else "")
    lines = [
        f"- {kp.text}",
        f"  weight {kp.weight:.2f}  credit {credit}  sim {kp.similarity:.2f}",
        f"  keywords hit: {', '.join(kp.keywords_hit) or '—'}",
        f"  missed: {', '.join(kp.keywords_missed) or '—'}",
        f"  evidence: {kp.evidence.text if kp.evidence else '—'}",
    ]
    return "\n".join(lines)


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
        Path, typer.Argument(help="labelled JSON lines (id, question_id, answer, score)", exists=True, dir_okay=False)
    ],
    out: Annotated[Path | None, typer.Option(help="where to write (default: GRADER_CALIBRATION_FILE)")] = None,
) -> None:
    """Fit the signal-to-score mapping on a labelled file (5-fold cross-validated) and save it."""
    from grader.evaluation import fit_calibration, read_rows
    from grader.grading.grader import build_grader
    from grader.scoring.calibration import save_calibration, unfitted

    settings = get_settings()
    target = out or settings.calibration_file
    command = "grader calibrate " + shlex.quote(path.name)
    try:
        grader = build_grader(settings, calibration=unfitted())
        fitted = fit_calibration(grader, read_rows(path), source=path.name, command=command)
    except GraderError as error:
        raise fail(error) from error
    save_calibration(fitted, target)
    console.print(f"wrote {target}: " + ", ".join(f"{k}={v}" for k, v in fitted.cv_metrics.items()))


def register(app: typer.Typer) -> None:
    app.command()(grade)
    app.command("eval")(evaluate)
    app.command()(calibrate)
