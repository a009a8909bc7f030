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

if TYPE_CHECKING:
    from grader.evaluation import Report


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
    bank: Annotated[
        str | None, typer.Option(help="bank: 'llm' (default), 'ads', 'le' or a questions.jsonl / bank.md")
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="a calibration file (default: the shipped one)", exists=True, dir_okay=False)
    ] = None,
    predictions: Annotated[Path | None, typer.Option(help="write one JSON line per row here")] = None,
) -> None:
    """Grade every row of a file; with labels, print the grader beside three baselines, per-question
    Spearman, how often each flag fired (and the human mean there), the review share and big misses."""
    from grader.evaluation import evaluate as run
    from grader.evaluation import grader_for, read_rows
    from grader.grading.grader import get_grader
    from grader.scoring.calibration import load_calibration

    try:
        grader = grader_for(bank, get_grader(), load_calibration(calibration) if calibration else None)
        report = run(grader, read_rows(path), get_settings().review_confidence_below)
    except GraderError as error:
        raise fail(error) from error
    if predictions:
        predictions.write_text("\n".join(report.prediction_lines()) + "\n", encoding="utf-8")
        console.print(f"wrote {len(report.rows)} predictions to {predictions}")
    if not report.labelled:
        console.print(f"graded {len(report.rows)} rows (no 'score' field: no metrics)")
        return
    print_report(report, f"{path.name} · bank {bank or 'llm'} · calibration {grader.calibration.version}")
    by_label = Table("label", "mean score (0-100)")
    for label, mean in report.mean_by_label().items():
        by_label.add_row(label, f"{mean:.1f}")
    console.print(by_label)


def print_report(report: Report, title: str) -> None:
    table = Table("method", "spearman", "qwk", "mae", "per-question spearman (median / worst)", title=title)
    rows = [
        ("grader", report.metrics(), report.scores),
        *((f"baseline: {name}", m, report.baselines[name]) for name, m in report.baseline_metrics().items()),
    ]
    for name, metrics, values in rows:
        median, worst, where = report.per_question(values)
        table.add_row(
            name,
            f"{metrics['spearman']:.3f}",
            f"{metrics['qwk']:.3f}",
            f"{metrics['mae']:.2f}",
            f"{median:.2f} / {worst:.2f} ({where})",
        )
    console.print(table)
    flags = Table("flag", "fired", "human mean where fired (0-10)")
    for name, (rate, mean) in report.flag_table().items():
        flags.add_row(name, f"{100 * rate:.1f}%", "" if mean is None else f"{mean:.2f}")
    console.print(flags)
    big, missed = report.big_errors()
    console.print(
        f"review share {100 * report.review_share():.1f}%  ·  off by >= 3 points {100 * big:.1f}%  ·  "
        f"off by >= 3 and not routed to review {100 * missed:.1f}% of all answers",
        highlight=False,
    )


def calibrate(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="labelled JSON lines of one bank (with --bank: its own "
            "calibration); none: fit across every labelled set",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    bank: Annotated[str | None, typer.Option(help="the bank `path` belongs to: 'llm', 'ads', 'le' or a file")] = None,
    lobo: Annotated[bool, typer.Option("--lobo", help="print the leave-one-bank-out report; write nothing")] = False,
    out: Annotated[Path | None, typer.Option(help="where to write (default: GRADER_CALIBRATION_FILE)")] = None,
) -> None:
    """Fit the signal-to-score mapping (cross-validated) and save it.

    No argument: across the LLM dev set and the ADS and LE train splits (the shipped calibration).
    PATH --bank B: bank B's own calibration, the shipped one refitted on B's labelled answers.
    --lobo: each bank's test split under a calibration fitted without it, the shipped one and its own.
    """
    from grader.evaluation import TRAINING, fit_across, fit_bank, leave_one_bank_out
    from grader.grading.grader import build_grader, get_grader
    from grader.scoring.calibration import save_calibration, unfitted

    settings = get_settings()
    try:
        if lobo:
            for line in leave_one_bank_out(get_grader(), review_below=settings.review_confidence_below):
                print_report(line.report, f"{line.bank} test · calibration: {line.calibration}")
            return
        if path is not None:
            command = f"grader calibrate {shlex.quote(str(path))} --bank {shlex.quote(bank or 'llm')}"
            fitted = fit_bank(get_grader(), bank, path, command=command)
            target = out or path.with_name(f"calibration-{fitted.bank}.json")
        else:
            fitted = fit_across(build_grader(settings, calibration=unfitted()), TRAINING, command="grader calibrate")
            target = out or settings.calibration_file
    except GraderError as error:
        raise fail(error) from error
    save_calibration(fitted, target)
    console.print(f"wrote {target}: " + ", ".join(f"{k}={v}" for k, v in fitted.cv_metrics.items()), highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(grade)
    app.command("eval")(evaluate)
    app.command()(calibrate)
