"""`grader serve`, `worker` and `beat`: running the grading service."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from grader.cli.common import configure_logging, safe_url
from grader.settings import get_settings

BEAT_SCHEDULE = Path(tempfile.gettempdir()) / "grader-beat-schedule"


def _port_free_or_exit(host: str, port: int) -> None:
    """Say which port is taken and how to choose another, before anything claims the API is up."""
    import os
    import socket

    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        typer.echo(
            f"ERROR: cannot listen on {host}:{port}: {reason} (another grader serve?). "
            f"Choose another port: grader serve --port {port + 1} (or scripts/run --port {port + 1}).",
            err=True,
        )
        raise typer.Exit(1) from None


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Run the REST API. Without GRADER_REDIS_URL it also grades, in a background thread (embedded mode)."""
    import uvicorn

    from grader.web.app import create_app

    configure_logging(log_level)
    _port_free_or_exit(host, port)
    settings = get_settings()
    mode = "embedded (grading in this process)" if settings.embedded else "Celery workers via Redis"
    typer.echo(
        f"grader API on http://{host}:{port} (docs at /docs); "
        f"database {safe_url(settings.database_url)}; grading: {mode}",
        err=True,
    )
    # log_config=None: uvicorn's records go through the JSON handler set up above, with request ids.
    # Forwarded headers only from the proxies named in GRADER_TRUSTED_PROXIES (none by default): uvicorn's
    # own default believes any loopback peer, which let a local client choose its address per request.
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=None,
        access_log=False,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or "",
    )


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="grading processes (default GRADER_WORKER_CONCURRENCY; 0 there means one per core); they share "
            "one copy of the model, loaded before the pool forks"
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    hostname: Annotated[str | None, typer.Option(help="node name, unique per machine")] = None,
    webhooks: Annotated[
        bool,
        typer.Option(
            "--webhooks",
            help="deliver webhooks instead of grading: the webhooks queue only, in threads (--concurrency, default 8)",
        ),
    ] = False,
) -> None:
    """Run a Celery worker that grades submissions (needs GRADER_REDIS_URL and GRADER_DATABASE_URL).

    Grading workers take only the grading queues; webhook deliveries have a worker of their own
    (`--webhooks`), so a slow receiver can never hold a grading process."""
    from grader.queue.celery_app import grading_queues, webhook_queue

    celery = _celery_or_exit()
    from grader.queue import celery_app

    settings = get_settings()
    queues = [webhook_queue(settings)] if webhooks else grading_queues(settings)
    if webhooks:
        celery_app.load_model_before_fork = False  # deliveries never grade: no model in this worker
    argv = [
        *_quiet(),
        "worker",
        f"--loglevel={log_level.upper()}",
        f"--concurrency={(concurrency or 8) if webhooks else celery_app.pool_size(settings, concurrency)}",
        # Deliveries wait on the network, not the CPU: threads, and no model is ever loaded there.
        "--pool=threads" if webhooks else "--pool=prefork",
        f"--queues={','.join(queues)}",
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery.worker_main(argv)


def beat(
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    schedule_file: Annotated[Path, typer.Option(help="where beat keeps its last-run times")] = BEAT_SCHEDULE,
) -> None:
    """Run Celery beat: schedules the sweep that re-enqueues stuck submissions. Run exactly one."""
    celery = _celery_or_exit()
    celery.start([*_quiet(), "beat", f"--loglevel={log_level.upper()}", f"--schedule={schedule_file}"])


def _quiet() -> list[str]:
    # JSON logs: Celery's start-up banner is printed, not logged, and would be the only non-JSON lines.
    return ["--quiet"] if get_settings().log_format == "json" else []


def _celery_or_exit() -> Any:
    from grader.queue.celery_app import configured_app

    settings = get_settings()
    if settings.redis_url is None:
        typer.echo(
            "GRADER_REDIS_URL is not set: workers need Redis. Without it, `grader serve` grades "
            "in-process and no worker is needed.",
            err=True,
        )
        raise typer.Exit(2)
    return configured_app(settings)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
    app.command()(beat)
