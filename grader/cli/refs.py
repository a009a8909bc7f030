"""`grader refs build|list`: the reference bank in reference_answers/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from grader.cli.grading import fail
from grader.errors import GraderError
from grader.questions.references import DEFAULT_SEED_DIR
from grader.settings import get_settings

console = Console()

refs = typer.Typer(help="The reference bank in reference_answers/.", no_args_is_help=True)


@refs.command("build")
def refs_build(
    seed: Annotated[Path, typer.Option(help="the seed Q&A file or folder")] = DEFAULT_SEED_DIR,
    out: Annotated[Path | None, typer.Option(help="reference folder (default: GRADER_REFERENCES_DIR)")] = None,
) -> None:
    """Split each seed answer into key points and keywords; curated key points are kept as they are."""
    from grader.questions.refbuild import refs_build_command

    refs_build_command(seed, out or get_settings().references_dir)


@refs.command("list")
def refs_list() -> None:
    """Show every question with its key points and content hash."""
    from grader.questions.references import load_bank

    try:
        bank = load_bank(get_settings().references_dir)
    except GraderError as error:
        raise fail(error) from error
    table = Table("id", "question", "key points", "hash")
    for ref in bank.values():
        table.add_row(ref.id, ref.question, str(len(ref.key_points)), ref.content_hash)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(refs, name="refs")
