"""A worker's pool: one grading process per core by default, the model loaded once before the fork."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.db.models import Role
from grader.queue.celery_app import blas_threads, limit_blas, pool_size
from grader.settings import Settings
from tests.support.processes import Process, grader_env
from tests.support.services import Server, make_key, wait_until


def test_pool_size_is_one_per_core_unless_set() -> None:
    cores = os.cpu_count() or 1
    assert pool_size(Settings(database_url="sqlite://")) == cores
    assert pool_size(Settings(database_url="sqlite://", worker_concurrency=3)) == 3
    assert pool_size(Settings(database_url="sqlite://", worker_concurrency=3), 1) == 1  # --concurrency wins


def test_grading_processes_share_the_cores_blas_threads() -> None:
    cores = os.cpu_count() or 1
    assert blas_threads(1) == cores
    assert blas_threads(cores) == 1
    assert blas_threads(cores * 4) == 1  # never none


def test_limit_blas_caps_this_process_s_openblas() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=None):  # whatever this process had is given back afterwards
        limit_blas(1)
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)


def pool_of(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").glob("*") for c in (task / "children").read_text().split()]


@pytest.mark.services
@pytest.mark.slow
def test_a_default_worker_grades_with_one_process_per_core_sharing_one_loaded_model(
    api: Server, pg_settings: Settings, tmp_path: Path
) -> None:
    env = grader_env(
        database_url=pg_settings.database_url, redis_url=pg_settings.redis_url, celery_queue=pg_settings.celery_queue
    )
    worker = Process(["worker", "--log-level", "info"], env, tmp_path / "worker.log", tmp_path)
    try:
        worker.wait_for("ready.", timeout=120)
        output = worker.output()
        # Loaded in the main process, before the pool was forked.
        assert "loaded before the pool forks" in output, output[-3000:]
        assert f"{blas_threads(os.cpu_count() or 1)} BLAS thread(s) per grading process" in output, output[-3000:]
        assert len(pool_of(worker.proc.pid)) == (os.cpu_count() or 1)
        key = make_key(api.settings, Role.RECRUITER)
        with api.client(key) as client:
            locations = [
                client.post(
                    "/api/v1/submissions", json={"candidate_id": f"pool-{i}", "question_id": "q01", "answer": "RLHF"}
                ).headers["Location"]
                for i in range(4)
            ]

            def all_graded() -> bool:
                return all(client.get(loc).json()["status"] in ("graded", "needs_review") for loc in locations)

            wait_until(all_graded, 60, interval=0.2)
    finally:
        worker.stop()
