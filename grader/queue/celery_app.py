"""The Celery app and the settings that make grading survive crashes.

Postgres holds every submission's state, so the broker only carries ids and results are ignored.
A message is acknowledged after the task finishes (`acks_late`) and requeued if the worker process
dies (`task_reject_on_worker_lost`); each process takes one message at a time (prefetch 1) so a slow
answer does not hold others hostage. Redis redelivers an unacknowledged message after the visibility
timeout, which must exceed the hard time limit or a long task would run twice while still alive.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.signals import setup_logging, task_prerun, worker_init, worker_ready
from kombu.entity import Queue

from grader.settings import Settings, get_settings

GRADE_TASK = "grader.grade_submission"
SWEEP_TASK = "grader.sweep_stuck"
BATCH_CHUNK_TASK = "grader.grade_batch_chunk"
BATCH_SWEEP_TASK = "grader.sweep_batches"
WEBHOOK_DISPATCH_TASK = "grader.dispatch_webhooks"
WEBHOOK_DELIVER_TASK = "grader.deliver_webhook"

app = Celery("grader", include=["grader.queue.tasks"])
log = logging.getLogger(__name__)


def batch_queue(settings: Settings) -> str:
    """Batch chunks wait on a queue of their own, so interactive submissions never queue behind them."""
    return f"{settings.celery_queue}.batch"


def webhook_queue(settings: Settings) -> str:
    """Webhook deliveries wait on a queue of their own, consumed by `grader worker --webhooks` only: a
    slow or absent receiver holds a delivery thread there, never a grading process."""
    return f"{settings.celery_queue}.webhooks"


def grading_queues(settings: Settings) -> list[str]:
    return [settings.celery_queue, batch_queue(settings)]


def configure(celery: Celery, settings: Settings) -> Celery:
    if settings.redis_url is None:
        raise ValueError("Celery needs GRADER_REDIS_URL; without it the API grades in-process")
    hard = settings.task_time_limit_seconds
    celery.conf.update(
        broker_url=settings.redis_url,
        broker_connection_retry_on_startup=True,
        # "priority": the worker polls its queues in the order listed, interactive before batch, instead
        # of kombu's default round robin; a batch chunk is taken only when no submission waits.
        broker_transport_options={"visibility_timeout": max(3 * hard, hard + 600), "queue_order_strategy": "priority"},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_time_limit=hard,
        task_soft_time_limit=max(hard - 10, 1),
        task_default_queue=settings.celery_queue,
        task_queues=(
            Queue(settings.celery_queue),  # type: ignore[no-untyped-call]
            Queue(batch_queue(settings)),  # type: ignore[no-untyped-call]
            Queue(webhook_queue(settings)),  # type: ignore[no-untyped-call]
        ),
        task_routes={
            BATCH_CHUNK_TASK: {"queue": batch_queue(settings)},
            WEBHOOK_DISPATCH_TASK: {"queue": webhook_queue(settings)},
            WEBHOOK_DELIVER_TASK: {"queue": webhook_queue(settings)},
        },
        task_serializer="json",
        accept_content=["json"],
        # A request must not hang on an unreachable broker: the row is committed, the sweep catches up.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        broker_connection_timeout=3,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule={
            "sweep-stuck-submissions": {
                "task": SWEEP_TASK,
                # Often enough that a lost submission waits about one deadline, not several, and that work
                # whose lease ran out (a dead worker) is handed on within a lease plus this interval.
                "schedule": timedelta(seconds=_sweep_every(settings)),
                "options": {"expires": _sweep_every(settings)},
            },
            "dispatch-webhooks": {
                "task": WEBHOOK_DISPATCH_TASK,
                "schedule": timedelta(seconds=settings.webhook_dispatch_seconds),
                "options": {"expires": max(settings.webhook_dispatch_seconds, 1)},
            },
            "sweep-batches": {
                "task": BATCH_SWEEP_TASK,
                "schedule": timedelta(seconds=max(settings.stuck_after_seconds // 4, 5)),
                "options": {"expires": max(settings.stuck_after_seconds // 4, 5)},
            },
        },
        timezone="UTC",
    )
    return celery


def _sweep_every(settings: Settings) -> int:
    return max(min(settings.stuck_after_seconds // 2, settings.lease_sweep_seconds), 5)


def pool_size(settings: Settings, requested: int | None = None) -> int:
    """Grading processes of a worker: as asked, else the setting, where 0 is one per core."""
    wanted = requested if requested is not None else settings.worker_concurrency
    return wanted if wanted > 0 else max(os.cpu_count() or 1, 1)


# False in a `grader worker --webhooks`: it only delivers webhooks and never needs the model.
load_model_before_fork = True


def blas_threads(processes: int) -> int:
    """BLAS threads for each of a worker's grading processes: the machine's cores shared among them.

    OpenBLAS starts a thread per core in every process, and its threads spin while they wait: two grading
    processes on two cores ran four, and the worker spent 322 s of CPU on a 10,000-answer sheet that one process
    graded with 195 s (`bench/bench_batch.py`). One thread each, the engine grades 107 answers per CPU second
    against 70 with two (`OPENBLAS_NUM_THREADS=1|2 bench/bench_engine.py`)."""
    return max(1, (os.cpu_count() or 1) // max(processes, 1))


def limit_blas(threads: int) -> None:
    """Cap this process's BLAS threads (inherited by the processes it forks)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


@worker_init.connect  # type: ignore[untyped-decorator]
def _load_model_before_fork(sender: Any = None, **_kwargs: Any) -> None:
    """Load the model in the worker's main process, before its pool forks: every grading process then
    starts with it and shares its weights read-only (copy-on-write pages) instead of loading its own copy,
    and the first task of each pays no load. Database connections are still opened after the fork
    (`grader.queue.tasks._sessions`). The pool's processes share the cores' BLAS threads (`blas_threads`)."""
    if not load_model_before_fork:
        return
    threads = blas_threads(int(getattr(sender, "concurrency", None) or 1))
    limit_blas(threads)
    from grader.grading.grader import get_grader

    started = time.perf_counter()
    grader = get_grader()
    grader.embedder.encode(["预热"])  # the weights read and the model built, not only imported
    warmed = _warm_engine(grader)
    _preloaded.append(
        f"{getattr(grader.embedder, 'name', '?')} in {time.perf_counter() - started:.1f} s "
        f"(engine warmed on {warmed} questions), {threads} BLAS thread(s) per grading process"
    )


def _warm_engine(grader: Any) -> int:
    """Grade each question of the bank's reference answer once, before the pool forks: what the engine
    builds on first use (the references embedded, jieba's dictionary, the keyword patterns compiled) is
    then built once, in this process, instead of in each grading process on its first answers, which
    took 1.5–2.5 s there. The grades are thrown away. Returns how many questions were graded."""
    try:
        bank = grader.bank
        grader.grade_many([(question_id, ref.reference_answer) for question_id, ref in bank.items()])
        return len(bank)
    except Exception as exc:  # a worker without the bank's files still grades: only its first answers are slower
        log.warning("could not warm the engine before the pool forks: %s: %s", type(exc).__name__, exc)
        return 0


_preloaded: list[str] = []


@worker_ready.connect  # type: ignore[untyped-decorator]
def _say_model_preloaded(**_kwargs: Any) -> None:
    # Logged once the worker's logging is set up (after `worker_init`).
    if _preloaded:
        log.info("model %s loaded before the pool forks", _preloaded[0])


def configured_app(settings: Settings | None = None) -> Celery:
    return configure(app, settings or get_settings())


def request_headers() -> dict[str, str]:
    from grader.observability import request_id_var

    request_id = request_id_var.get()
    return {"request_id": request_id} if request_id else {}


@setup_logging.connect  # type: ignore[untyped-decorator]
def _json_logging(loglevel: Any = None, **_kwargs: Any) -> None:
    """Worker and beat log like the API: JSON lines (GRADER_LOG_FORMAT) with the request or task id."""
    from grader.observability import configure_logging

    configure_logging(loglevel or "INFO", get_settings().log_format)


@task_prerun.connect  # type: ignore[untyped-decorator]
def _task_request_id(task_id: str | None = None, task: Any = None, **_kwargs: Any) -> None:
    from grader.observability import request_id_var

    sent = getattr(getattr(task, "request", None), "request_id", None) if task is not None else None
    request_id_var.set(str(sent) if sent else task_id)
