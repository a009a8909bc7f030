"""Where the time goes per answer in the two grading paths, in-process against the real Postgres (no Celery).

    .venv/bin/python bench/profile_paths.py [--answers 400] [--chunk 50] [--single 100] [--cprofile out.prof]

Creates a throwaway database on GRADER_TEST_DATABASE_URL's server, stores a batch of `--answers` answers
(the same generator as bench_batch.py), warms the grader, then:

- batch path: `run_chunk` over chunks of `--chunk` (as the worker task does);
- single path: `run_grading` for `--single` submissions sent through `submit`.

For each it reports per answer: wall and CPU milliseconds, engine CPU milliseconds (time inside the
`Grader`), SQL statements and the wall time spent in them (cursor execute until the result is read), and
answers per CPU second of this process next to the engine's own rate on the same answers. CPU figures
hold on a busy machine; Postgres's own CPU is not in them (it is in the wall time).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from _shared import with_path
from psycopg import sql
from sqlalchemy import event, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


class Counter:
    def __init__(self) -> None:
        self.statements = 0
        self.seconds = 0.0
        self._started: list[float] = []

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _before(*_args: Any) -> None:
            self._started.append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(*_args: Any) -> None:
            self.statements += 1
            self.seconds += time.perf_counter() - self._started.pop()

    def reset(self) -> None:
        self.statements, self.seconds = 0, 0.0


class TimedGrader:
    """Wraps a Grader, adding up the CPU time spent inside it."""

    def __init__(self, grader: Any) -> None:
        self._grader = grader
        self.bank = grader.bank
        self.cpu = 0.0

    def grade(self, question_id: str, answer: str) -> Any:
        started = time.process_time()
        try:
            return self._grader.grade(question_id, answer)
        finally:
            self.cpu += time.process_time() - started

    def grade_many(self, items: Sequence[tuple[str, str]]) -> Any:
        started = time.process_time()
        try:
            return self._grader.grade_many(items)
        finally:
            self.cpu += time.process_time() - started


def report(
    name: str, n: int, wall: float, cpu: float, timed: TimedGrader, counter: Counter, engine_rate: float
) -> dict[str, Any]:
    return {
        "path": name,
        "answers": n,
        "wall_ms_per_answer": round(1000 * wall / n, 2),
        "cpu_ms_per_answer": round(1000 * cpu / n, 2),
        "engine_cpu_ms_per_answer": round(1000 * timed.cpu / n, 2),
        "other_cpu_ms_per_answer": round(1000 * (cpu - timed.cpu) / n, 2),
        "sql_statements_per_answer": round(counter.statements / n, 2),
        "sql_wall_ms_per_answer": round(1000 * counter.seconds / n, 2),
        "answers_per_cpu_s": round(n / cpu, 1),
        "engine_alone_answers_per_cpu_s": round(engine_rate, 1),
        "ratio_to_engine_cpu": round((n / cpu) / engine_rate, 3),
        "answers_per_wall_s": round(n / wall, 1),
    }


def main() -> None:
    # A real secret: the settings refuse the placeholder once a database server is configured.
    os.environ.setdefault("GRADER_SECRET_KEY", secrets.token_hex(32))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=400)
    parser.add_argument("--chunk", type=int, default=None, help="chunk size (default: the service's)")
    parser.add_argument("--single", type=int, default=100)
    parser.add_argument("--cprofile", type=Path, help="write a cProfile of both paths here (.prof)")
    args = parser.parse_args()

    from bench_batch import make_sheet

    from grader.batches import uploads as batches
    from grader.batches.parsing import parse_sheet
    from grader.db.batch_models import BatchItem
    from grader.db.migrate import upgrade
    from grader.db.models import Role
    from grader.db.session import get_engine, get_session_factory, session_scope
    from grader.grading.grader import get_grader
    from grader.grading.run import run_chunk, run_grading
    from grader.keys.api_keys import create_api_key
    from grader.keys.principal import CLI, Principal
    from grader.settings import Settings
    from grader.submissions.schemas import SubmissionCreate
    from grader.submissions.submit import submit

    admin_url = os.environ.get("GRADER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"grader_prof_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    profiler = cProfile.Profile() if args.cprofile else None
    try:
        url = Settings(database_url=with_path(admin_url, "/" + name)).database_url
        upgrade(url)
        factory = get_session_factory(url)
        counter = Counter()
        counter.attach(get_engine(url))
        grader = get_grader()
        data, rows = make_sheet(args.answers)
        grader.grade_many(rows[:20])  # model loaded, references embedded

        chunk_size = args.chunk or batches.CHUNK_SIZE
        started = time.process_time()
        for i in range(0, len(rows), chunk_size):
            grader.grade_many(rows[i : i + chunk_size])
        engine_many = len(rows) / (time.process_time() - started)
        single_rows = rows[: args.single]
        started = time.process_time()
        for qid, answer in single_rows:
            grader.grade(qid, answer)
        engine_one = len(single_rows) / (time.process_time() - started)

        class Recorder:
            def __init__(self) -> None:
                self.ids: list[uuid.UUID] = []

            def enqueue_chunk(self, _batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
                self.ids += submission_ids

            def enqueue(self, submission_id: uuid.UUID) -> None:
                self.ids.append(submission_id)

        sheet = parse_sheet(data, {qid: ref.question for qid, ref in grader.bank.items()})
        with session_scope(factory) as session:
            key, _ = create_api_key(session, "prof", Role.RECRUITER, CLI)
            actor = Principal(key.id, key.name, Role.RECRUITER)
            batch = batches.create_batch(session, sheet, filename="p.csv", actor=actor, queue=Recorder())
            batch_id = batch.id
        with factory() as session:
            ids = list(
                session.scalars(
                    select(BatchItem.submission_id).where(BatchItem.batch_id == batch_id).order_by(BatchItem.position)
                )
            )

        out = []
        timed = TimedGrader(grader)
        counter.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for i in range(0, len(ids), chunk_size):
            run_chunk(factory, ids[i : i + chunk_size], lambda: timed, 0.5)  # type: ignore[arg-type,return-value]
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out.append(
            report(f"batch run_chunk (chunks of {chunk_size})", len(ids), wall, cpu, timed, counter, engine_many)
        )

        recorder = Recorder()
        with session_scope(factory) as session:
            for j, (qid, answer) in enumerate(single_rows):
                submit(
                    session,
                    SubmissionCreate(candidate_id=f"s{j}", question_id=qid, answer=answer),
                    actor=actor,
                    max_answer_chars=10_000,
                    queue=recorder,
                )
        timed = TimedGrader(grader)
        counter.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for sid in recorder.ids:
            run_grading(factory, sid, lambda: timed, 0.5)  # type: ignore[arg-type,return-value]
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out.append(report("single run_grading", len(recorder.ids), wall, cpu, timed, counter, engine_one))
        print(json.dumps({"load_average": os.getloadavg(), "paths": out}, indent=1))
        if profiler and args.cprofile:
            profiler.dump_stats(args.cprofile)
        get_engine(url).dispose()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
