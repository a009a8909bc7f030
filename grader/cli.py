"""The `grader` command. Command groups live beside the code they drive and register here."""

from __future__ import annotations

import typer

app = typer.Typer(help="Automated grader for LLM-engineering interview answers.", no_args_is_help=True)

from grader.commands import core as _core_commands  # noqa: E402
from grader.commands import service as _service_commands  # noqa: E402

_core_commands.register(app)

_service_commands.register(app)
from grader.commands import batch as _batch_commands  # noqa: E402

_batch_commands.register(app)
