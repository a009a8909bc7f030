"""The grading runs the queue calls: one submission (`run_grading`) or a batch chunk (`run_chunk`).

Each run owns its short transactions — claim, then record — and the engine runs outside both. A
database error propagates (the queue retries the run); an error in the engine fails only the
submission it came from, with the reason, since running the same input again would fail again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from grader.db.models import Status
from grader.db.session import SessionFactory, session_scope
from grader.errors import GraderError
from grader.grading import durations
from grader.grading.record import DEFAULT_LEASE_SECONDS, Job, claim, claim_many, fail, record, record_many, renew_leases
from grader.scoring.types import ScoreResult

if TYPE_CHECKING:
    # Imported where a run starts instead: importing this module (the API, the CLI) loads no engine
    # (numpy, the scoring modules); a Celery worker loads it once, before its pool forks (grader.queue.celery_app).
    from grader.grading.grader import Grader, GradingPlan

log = logging.getLogger(__name__)


def failure_reason(exc: BaseException) -> str:
    """What a submission's `failure_reason` says when the engine raised on it."""
    reason = exc.message if isinstance(exc, GraderError) else f"{type(exc).__name__}: {exc}"
    return f"grading failed: {reason}"


def run_grading(
    factory: SessionFactory,
    submission_id: uuid.UUID,
    grader: Callable[[], Grader],
    review_confidence_below: float,
    *,
    retry: bool = False,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> Status | None:
    """Grade one submission end to end; None when there was nothing to do."""
    from grader.grading.grader import SCORING_VERSION

    loaded = grader()
    with session_scope(factory) as session:
        job = claim(session, submission_id, SCORING_VERSION, charge_attempt=not retry, lease_seconds=lease_seconds)
        if job is None:
            return None
        plan = loaded.plan(session, [(job.question_id, job.reference_hash)])
    started = time.perf_counter()
    try:
        if job.reference_hash not in plan.references:
            raise GraderError(_unpublished(job))
        with renewing(factory, [submission_id], lease_seconds):
            result = loaded.grade_planned(plan, [(job.reference_hash, job.answer)])[0]
    except Exception as exc:
        log.exception("grading submission %s failed", submission_id)
        with session_scope(factory) as session:
            fail(session, submission_id, failure_reason(exc))
        return Status.FAILED
    durations.record_grading(time.perf_counter() - started)
    with session_scope(factory) as session:
        return record(session, job, result, review_confidence_below)


def run_chunk(
    factory: SessionFactory,
    submission_ids: Sequence[uuid.UUID],
    grader: Callable[[], Grader],
    review_confidence_below: float,
    *,
    retry: bool = False,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    leave_leased: bool = False,
    on_claimed: Callable[[Sequence[uuid.UUID]], None] | None = None,
) -> dict[str, int]:
    """Grade a chunk with one transaction to claim it and one to record it, a fixed handful of statements
    each (`claim_many`, `record_many`), and one engine call for the whole chunk.

    Per answer this is the same claim → engine → record as `run_grading`, so a chunk that runs twice, or
    overlaps a sweep's re-enqueue, writes each grade once. `leave_leased`: interactive answers gathered
    together (`grader.grading.gather`) skip those another live worker is grading. `on_claimed` is called
    with the ids claimed once the claim is committed, before the engine runs (the gathering task takes
    their messages off the queue then).
    """
    from grader.grading.grader import SCORING_VERSION

    loaded = grader()
    with session_scope(factory) as session:
        jobs, _deleted = claim_many(
            session,
            submission_ids,
            SCORING_VERSION,
            charge_attempt=not retry,
            lease_seconds=lease_seconds,
            leave_leased=leave_leased,
        )
        plan = loaded.plan(session, {(job.question_id, job.reference_hash) for job in jobs})
    if on_claimed is not None and jobs:
        on_claimed([job.submission_id for job in jobs])
    with renewing(factory, [job.submission_id for job in jobs], lease_seconds):
        results, problems = _grade(loaded, plan, jobs)
    counts = {"graded": 0, "needs_review": 0, "failed": 0, "skipped": len(submission_ids) - len(jobs)}
    with session_scope(factory) as session:
        for job in jobs:
            if job.submission_id in problems:
                fail(session, job.submission_id, problems[job.submission_id])
                counts["failed"] += 1
        statuses = record_many(
            session,
            [(job, results[job.submission_id]) for job in jobs if job.submission_id in results],
            review_confidence_below,
        )
    for status in statuses.values():
        counts[status.value] = counts.get(status.value, 0) + 1
    return counts


def _unpublished(job: Job) -> str:
    # Submit and re-grade pin published versions only; a pin from elsewhere (e.g. edited by hand) gets here.
    return f"reference version {job.question_id}/{job.reference_hash} is in no published bank version"


@contextmanager
def renewing(factory: SessionFactory, submission_ids: Sequence[uuid.UUID], lease_seconds: float) -> Iterator[None]:
    """Renew this worker's leases every third of a lease while the block runs (a long chunk on a slow
    machine), so a live worker's work is never taken for a dead one's."""
    if not submission_ids:
        yield
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease_seconds / 3):
            try:
                with session_scope(factory) as session:
                    renew_leases(session, submission_ids, lease_seconds)
            except Exception as exc:  # the next renewal tries again; the record still happens
                log.warning("could not renew leases on %d submissions: %s", len(submission_ids), type(exc).__name__)

    thread = threading.Thread(target=renew, name="grader-lease-renewal", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _grade(
    grader: Grader, plan: GradingPlan, jobs: Sequence[Job]
) -> tuple[dict[uuid.UUID, ScoreResult], dict[uuid.UUID, str]]:
    """Grade the jobs with one `grade_planned` call (the answers are embedded together); when it raises,
    grade them one by one so that only the answer at fault fails (with its `failure_reason`)."""
    problems: dict[uuid.UUID, str] = {
        job.submission_id: f"grading failed: {_unpublished(job)}"
        for job in jobs
        if job.reference_hash not in plan.references
    }
    jobs = [job for job in jobs if job.submission_id not in problems]
    if not jobs:
        return {}, problems
    started = time.perf_counter()
    try:
        graded = grader.grade_planned(plan, [(job.reference_hash, job.answer) for job in jobs])
    except Exception:
        log.warning("grading a chunk of %d together failed; grading its answers one by one", len(jobs))
    else:
        durations.record_grading_many(time.perf_counter() - started, len(jobs))
        return {job.submission_id: result for job, result in zip(jobs, graded, strict=True)}, problems
    results: dict[uuid.UUID, ScoreResult] = {}
    for job in jobs:
        started = time.perf_counter()
        try:
            results[job.submission_id] = grader.grade_planned(plan, [(job.reference_hash, job.answer)])[0]
            durations.record_grading(time.perf_counter() - started)
        except Exception as exc:
            log.exception("grading submission %s failed", job.submission_id)
            problems[job.submission_id] = failure_reason(exc)
    return results, problems
