"""The `grader` command (`grader.cli:app`): one module per command group, each registering itself here."""

from __future__ import annotations

import typer

from grader.cli import banks, batch, db, grading, keys, refs, server

app = typer.Typer(help="Automated grader for LLM-engineering interview answers.", no_args_is_help=True)

for group in (grading, refs, server, db, keys, batch, banks):
    group.register(app)
