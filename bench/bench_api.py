"""Service throughput on this machine, loopback only, bounded in count and time.

1. Submissions/s the API accepts (`grader serve`, Redis mode, real Postgres): N POSTs from C client
   threads, with p50/p95 latency. No worker runs during this part, so it measures accepting only.
2. Answers/s one `grader worker` (one process, the default embedder) grades: after a warm-up answer,
   M submissions are enqueued and timed until the last one is graded in Postgres. On a shared machine
   the wall-clock rate moves with the load, so it also reports the worker's CPU time per answer (main
   process and pool child) against the engine's own (`Grader.grade` one answer at a time, model warm,
   in a fresh process, on the same answers); Postgres's and the API's CPU are not in the worker's figure.

Uses a throwaway database on the Postgres server and a queue of its own on Redis; removes both.

    .venv/bin/python bench/bench_api.py [--requests 400] [--clients 8] [--answers 100]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import threading
import time
from contextlib import ExitStack

import httpx
import psycopg
from _shared import GRADER as GRADER  # bench_load.py imports these from here
from _shared import (
    REDIS_URL,
    children,
    clear_queue,
    cpu_seconds,
    make_key,
    migrate,
    stack_env,
    start,
    start_api,
    stop,
    throwaway_database,
    with_path,
)
from _shared import ROOT as ROOT

from grader.questions.references import load_bank


def answers(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """Plausible answers: shuffled sentences of each reference answer, some cut short."""
    rng = random.Random(seed)
    bank = load_bank(ROOT / "reference_answers")
    out = []
    for i in range(count):
        ref = list(bank.values())[i % len(bank)]
        parts = [p for p in ref.reference_answer.replace("\n", "。").split("。") if p.strip()]
        rng.shuffle(parts)
        keep = parts[: max(1, rng.randint(len(parts) // 2, len(parts)))]
        out.append((ref.id, "。".join(keep)[:3000]))
    return out


def engine_single_rate(items: list[tuple[str, str]]) -> tuple[float, float]:
    """(answers per wall second, per CPU second) of `Grader.grade`, one answer at a time, in a fresh process."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_engine_single_rate, (items,))


def _engine_single_rate(items: list[tuple[str, str]]) -> tuple[float, float]:
    from grader.grading.grader import get_grader

    grader = get_grader()
    grader.grade("q01", "预热")  # load the model and embed the references first
    wall, cpu = time.perf_counter(), time.process_time()
    for qid, text in items:
        grader.grade(qid, text)
    return len(items) / (time.perf_counter() - wall), len(items) / (time.process_time() - cpu)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--answers", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    args = parser.parse_args()

    redis_url = with_path(REDIS_URL, "/13")
    queue = f"grader-bench-{secrets.token_hex(4)}"
    logs = ROOT / "bench" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    cleanup = ExitStack()
    db_url = cleanup.enter_context(throwaway_database())
    env = stack_env(db_url, redis_url, queue)
    try:
        migrate(env)
        key = make_key(env, "recruiter", "bench")
        api, base = start_api(env, logs / "api.log")
        procs.append(api)

        # --- 1. accepting ----------------------------------------------------------------------------
        payloads = answers(args.requests)
        latencies: list[float] = []
        statuses: list[int] = []
        lock = threading.Lock()
        cursor = iter(range(args.requests))

        def client_loop() -> None:
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
                while True:
                    with lock:
                        i = next(cursor, None)
                    if i is None:
                        return
                    qid, text = payloads[i]
                    start = time.perf_counter()
                    r = client.post(
                        "/api/v1/submissions", json={"candidate_id": f"bench-{i}", "question_id": qid, "answer": text}
                    )
                    elapsed = time.perf_counter() - start
                    with lock:
                        latencies.append(elapsed)
                        statuses.append(r.status_code)

        # A few warm-up requests (connection pools, first-request imports) are not counted.
        with httpx.Client(base_url=base, headers={"X-API-Key": key}) as warm:
            for _ in range(5):
                warm.get("/api/v1/submissions", params={"limit": 1})
        threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.timeout)
        wall = time.perf_counter() - started
        accepted = statuses.count(202)
        accept = {
            "requests": len(statuses),
            "accepted_202": accepted,
            "clients": args.clients,
            "seconds": round(wall, 2),
            "submissions_per_s": round(accepted / wall, 1),
            "p50_ms": round(pct(latencies, 50) * 1000, 1),
            "p95_ms": round(pct(latencies, 95) * 1000, 1),
        }
        print(json.dumps({"accept": accept}, ensure_ascii=False), flush=True)

        # --- 2. grading by one worker ----------------------------------------------------------------
        # The accept phase's submissions sit in the queue; start from an empty queue and a clean table.
        clear_queue(redis_url, queue)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("TRUNCATE grades, submissions, result_day_stats, result_score_counts CASCADE")
        procs.append(start(["worker", "--concurrency", "1", "--log-level", "warning"], env, logs / "worker.log"))
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:

            def wait_graded(n: int, limit: float) -> None:
                end = time.monotonic() + limit
                while time.monotonic() < end:
                    page = client.get("/api/v1/submissions", params={"limit": 1, "status": "pending"}).json()
                    running = client.get("/api/v1/submissions", params={"limit": 1, "status": "running"}).json()
                    total = client.get("/api/v1/submissions", params={"limit": 1}).json()["total"]
                    if total >= n and page["total"] == 0 and running["total"] == 0:
                        return
                    time.sleep(0.05)
                raise SystemExit("grading did not finish in time; see bench/out/worker.log")

            t0 = time.perf_counter()
            client.post(
                "/api/v1/submissions", json={"candidate_id": "warm", "question_id": "q01", "answer": payloads[0][1]}
            )
            wait_graded(1, args.timeout)
            warmup = time.perf_counter() - t0
            grade_set = answers(args.answers, seed=11)
            worker_pids = [procs[-1].pid, *children(procs[-1].pid)]
            cpu0 = cpu_seconds(worker_pids)
            t0 = time.perf_counter()
            for i, (qid, text) in enumerate(grade_set):
                client.post("/api/v1/submissions", json={"candidate_id": f"g-{i}", "question_id": qid, "answer": text})
            wait_graded(args.answers + 1, args.timeout)
            graded_wall = time.perf_counter() - t0
            worker_cpu = cpu_seconds(worker_pids) - cpu0
        engine_wall, engine_cpu = engine_single_rate(grade_set)
        grade = {
            "answers": args.answers,
            "worker_processes": 1,
            "seconds": round(graded_wall, 2),
            "answers_per_s": round(args.answers / graded_wall, 2),
            "mean_chars": round(statistics.mean(len(t) for _, t in grade_set)),
            "first_answer_with_model_load_s": round(warmup, 1),
            "worker_cpu_ms_per_answer": round(1000 * worker_cpu / args.answers, 1),
            "worker_answers_per_cpu_s": round(args.answers / worker_cpu, 1) if worker_cpu else None,
            "engine_one_at_a_time_answers_per_cpu_s": round(engine_cpu, 1),
            "engine_one_at_a_time_answers_per_wall_s": round(engine_wall, 1),
            "load_average": os.getloadavg(),
        }
        print(json.dumps({"grade": grade}, ensure_ascii=False), flush=True)
    finally:
        stop(procs)
        clear_queue(redis_url, queue)
        cleanup.close()


if __name__ == "__main__":
    main()
