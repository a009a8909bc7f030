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
    from sqlalchemy.orm import Session

    from grader.evaluation import Report
    from grader.scoring.calibration import Calibration
    from grader.scoring.types import KeyPointResult, ScoreResult

console = Console()


def fail(error: GraderError) -> typer.Exit:
    """Print the error's message and the exit to raise (code 2: the input was at fault)."""
    Console(stderr=True).print(f"[bold red]error:[/] {error.message}", highlight=False)
    return typer.Exit(code=2)


def grade(
    question_id: Annotated[str, typer.Argument(help="question id, e.g. q06, q6 or le-005 (see `grader banks list`)")],
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
    out = _output_console()
    flags = ", ".join(f.value for f in result.flags) or "none"
    out.print(
        f"[bold]{result.question_id}[/]  score [bold]{result.score:.0f}[/]/100  "
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


def _grade_published(session: Session, question_id: str, answer: str) -> ScoreResult:
    from grader.errors import QuestionNotFound
    from grader.grading.grader import get_grader
    from grader.questions.ids import candidates, normalise_question_id
    from grader.questions.pins import latest_pins, question_hint

    # `q6`, ` Q06 ` and `q06` are one question, as at the REST submit and in batch sheets.
    pins = latest_pins(session, candidates(question_id))
    question_id = normalise_question_id(question_id, pins)
    pin = pins.get(question_id)
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
    bank: Annotated[
        str | None,
        typer.Option(help="bank: 'llm' (default), 'ads', 'le' or a bank document (questions.jsonl, bank.md, CSV)"),
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


_SHARES = {"review_share", "big_not_routed", "correct_sunk"}


def _figure(metric: str, value: float) -> str:
    """Shares of the answers (routed to review, big errors not routed, correct answers sunk) read as percentages."""
    return f"{100 * value:.1f}%" if metric in _SHARES else f"{value:.3f}"


def print_report(report: Report, title: str) -> None:
    from grader.evaluation import CORRECT_MARK

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
    if any(row.label for row in report.rows):  # the kind of answer each row is (excellent, off_topic, …)
        by_label = Table("label", "mean score (0-100)")
        for label, mean in report.mean_by_label().items():
            by_label.add_row(label, f"{mean:.1f}")
        console.print(by_label)
    big, missed = report.big_errors()
    under, over = report.missed_by_direction()
    sunk, correct = report.sunk_correct()
    console.print(
        f"review share {100 * report.review_share():.1f}%  ·  off by >= 3 points {100 * big:.1f}%  ·  "
        f"off by >= 3 and not routed to review {100 * missed:.1f}% of all answers "
        f"({100 * under:.1f}% scored under the mark, {100 * over:.1f}% over)  ·  "
        f"answers marked >= {CORRECT_MARK:g} scored 3+ lower and not routed: {sunk} of {correct}",
        highlight=False,
    )


def calibrate(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="labelled JSON lines (question_id, answer, score 0–10) of the bank given by --bank",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    bank: Annotated[
        str | None, typer.Option(help="fit this bank's own calibration: a new, unpublished calibration version")
    ] = None,
    from_reviews: Annotated[
        bool, typer.Option("--from-reviews", help="fit on the reviewers' final scores stored for --bank")
    ] = False,
    lobo: Annotated[bool, typer.Option("--lobo", help="print the leave-one-bank-out report; write nothing")] = False,
    out: Annotated[Path | None, typer.Option(help="also write the fitted calibration to this JSON file")] = None,
    write_shipped: Annotated[
        bool, typer.Option("--write-shipped", help="overwrite the shipped calibration (GRADER_CALIBRATION_FILE)")
    ] = False,
) -> None:
    """Fit the signal-to-score mapping (cross-validated).

    No FILE and no --bank: the shipped calibration, fitted across the LLM dev set, the interview banks
    (fe, jv, ml) and the ADS and LE train splits (each bank weighing the same), written only where --out
    or --write-shipped says.
    FILE --bank NAME, or --bank NAME --from-reviews: that bank's own calibration (the shipped model
    refitted on its labelled answers, pulled towards it), stored as a new calibration version to publish
    with `grader banks publish-calibration`.
    --lobo: each labelled set's test split under a calibration fitted without its bank, the shipped one
    and its own.
    """
    from grader.scoring.calibration import save_calibration

    settings = get_settings()
    if lobo:
        from grader.evaluation import leave_one_bank_out
        from grader.grading.grader import get_grader

        try:
            for line in leave_one_bank_out(get_grader(), review_below=settings.review_confidence_below):
                print_report(line.report, f"{line.bank} test · calibration: {line.calibration}")
        except GraderError as error:
            raise fail(error) from error
        return
    if bank is None:
        if path is not None or from_reviews:
            raise fail(GraderError("a labelled FILE or --from-reviews fits a bank's own calibration: add --bank NAME"))
        if out is None and not write_shipped:
            raise fail(
                GraderError(
                    "say where the fit goes: --out FILE, or --write-shipped to overwrite the shipped calibration "
                    "(or --bank NAME with a labelled FILE for a bank's own calibration)"
                )
            )
    elif (path is None) == (not from_reviews):
        raise fail(GraderError("give either a labelled FILE or --from-reviews"))
    try:
        fitted: Calibration = _calibrate_bank(bank, path) if bank else _calibrate_shipped()
    except GraderError as error:
        from grader.cli.banks import fail as fail_by_row

        raise fail_by_row(error) from error
    for target in [t for t in (out, settings.calibration_file if write_shipped else None) if t is not None]:
        save_calibration(fitted, target)
        console.print(f"wrote {target}")


def _calibrate_shipped() -> Calibration:
    from grader.evaluation import TRAINING, fit_across
    from grader.grading.grader import build_grader
    from grader.scoring.calibration import unfitted

    fitted = fit_across(
        build_grader(get_settings(), calibration=unfitted()), TRAINING, command="grader calibrate --write-shipped"
    )
    console.print("cross-validated: " + ", ".join(f"{k}={v}" for k, v in fitted.cv_metrics.items()), highlight=False)
    return fitted


def _calibrate_bank(bank: str, path: Path | None) -> Calibration:
    from grader.db.session import get_session_factory, session_scope
    from grader.grading.calibrate import calibrate_bank, fit_from_reviews, read_labelled
    from grader.grading.grader import build_grader
    from grader.keys.principal import CLI

    settings = get_settings()
    with session_scope(get_session_factory(settings.database_url)) as session:
        grader = build_grader(settings)
        if path is None:
            report = fit_from_reviews(session, grader, bank, actor=CLI, review_below=settings.review_confidence_below)
        else:
            command = f"grader calibrate --bank {shlex.quote(bank)} {shlex.quote(path.name)}"
            rows = read_labelled(path)
            report = calibrate_bank(
                session,
                grader,
                bank,
                rows,
                source=path.name,
                command=command,
                actor=CLI,
                review_below=settings.review_confidence_below,
            )
    measured = (
        f"on {report.held_back} held-back answers (not fitted on)" if report.held_back else "5-fold cross-validated"
    )
    table = Table("agreement", "before (current: " + report.current + ")", f"after ({measured})")
    for metric in report.after:
        before = report.before.get(metric)
        table.add_row(metric, "—" if before is None else _figure(metric, before), _figure(metric, report.after[metric]))
    who = ", ".join(f"{name} ({n})" for name, n in report.labels_from.items())
    console.print(f"bank '{bank}': {report.examples} labelled answers, from {who}", highlight=False)
    console.print(table)
    for label, figures in (
        ("the bank's latest graded answers", report.earlier),
        ("its reference answers", report.references),
    ):
        if figures.get("answers"):
            console.print(
                f"{label} ({int(figures['answers'])}): median {figures['median_before']:.1f} -> "
                f"{figures['median_after']:.1f}, mean change {figures['mean_change']:.1f} points, "
                f"{100 * figures['moved_20_or_more']:.0f}% move 20+ points, "
                f"Spearman current vs new {figures['spearman_before_after']:.3f}",
                highlight=False,
            )
    for code, why in report.warnings.items():
        console.print(f"[bold red]WARNING[/] [{code}] {why}", highlight=False)
    confirm = f" --confirm {','.join(report.warnings)}" if report.warnings else ""
    console.print(
        f"stored as calibration version {report.version} (unpublished); "
        f"publish it with `grader banks publish-calibration {bank} {report.version}{confirm}`"
        + (" only if the warnings above are intended" if report.warnings else ""),
        highlight=False,
    )
    return report.calibration


def register(app: typer.Typer) -> None:
    app.command()(grade)
    app.command("eval")(evaluate)
    app.command()(calibrate)
