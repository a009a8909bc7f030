"""`grader keys create|list|revoke`: API keys from the command line (acting as the `cli` principal)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from grader.settings import get_settings


class RoleChoice(StrEnum):
    recruiter = "recruiter"
    reviewer = "reviewer"
    admin = "admin"


keys_app = typer.Typer(help="API keys.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[RoleChoice, typer.Option(help="recruiter: submit, read own; reviewer: read all; admin")],
    name: Annotated[str, typer.Option(help="who holds the key, e.g. screening-team")],
) -> None:
    """Create an API key and print it. It is shown this once; only its hash is stored."""
    from grader.db.models import Role
    from grader.db.session import get_session_factory, session_scope
    from grader.keys.api_keys import create_api_key
    from grader.keys.principal import CLI

    with session_scope(get_session_factory(get_settings().database_url)) as session:
        key, raw = create_api_key(session, name, Role(role.value), CLI)
        key_id = key.id
    typer.echo(raw)
    typer.echo(
        f"key {key_id} '{name}' ({role.value}) created; store it now, it is not shown again. "
        "Send it as the X-API-Key header.",
        err=True,
    )


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    from grader.db.session import get_session_factory, session_scope
    from grader.keys.api_keys import list_keys

    with session_scope(get_session_factory(get_settings().database_url)) as session:
        for key in list_keys(session):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            typer.echo(f"{key.id}\t{key.prefix}…\t{key.role}\t{key.name}\t{state}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="id from `grader keys list`")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from grader.db.session import get_session_factory, session_scope
    from grader.keys.api_keys import revoke_key
    from grader.keys.principal import CLI

    with session_scope(get_session_factory(get_settings().database_url)) as session:
        revoke_key(session, key_id, CLI)
    typer.echo(f"key {key_id} revoked", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
