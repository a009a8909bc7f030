"""Batch grading end to end: an N-answer sheet through the real API, Redis, one worker and Postgres.

    .venv/bin/python bench/bench_batch.py --answers 10000 [--interactive 50] [--no-single]

Twice, each on a throwaway Postgres database (GRADER_TEST_DATABASE_URL's server) and Redis
(GRADER_TEST_REDIS_URL): `grader serve` and `grader worker --concurrency 1` (the one-process baseline),
then `grader serve` and `grader worker` with its default pool (one grading process per core). Each run
warms the worker, then times upload → every answer finished → results downloaded. During the default
run, `--interactive` REST answers are submitted one per second and their submit → graded times (the
rows' created_at → graded_at) reported, with how many went in while the batch was still running. Reports answers/s,
the ratio to the engine's own single-process throughput on a sample of the same answers (`grade_many` in
chunks of the service's chunk size, model warm), and the peak RSS (VmHWM) of the API process and of the
worker (main process and its pool child).

On a shared machine wall-clock rates move with the load, so it also reports CPU time: the worker's
(main process and pool child) per answer from upload to the last grade, against the engine's CPU time
per answer on the sample. Postgres's and the API's CPU are not in the worker's figure.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_sheet(n: int, seed: int = 7) -> tuple[bytes, list[tuple[str, str]]]:
    """A long-format sheet of n answers written from the bank's own key points, reordered, cut and padded
    the way real candidates' answers vary (some good, some partial, some off)."""
    from grader.questions.references import load_bank

    bank = load_bank()
    rng = random.Random(seed)
    filler = ["我觉得", "简单来说，", "据我了解，", "这个问题主要是", "另外，", "总之，", "比如在项目里，"]
    off_topic = ["我平时喜欢打篮球和看电影。", "这个我不太清楚，没有接触过。", "数据库索引可以加快查询。"]
    qids = sorted(bank)
    rows: list[tuple[str, str]] = []
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["候选人编号", "姓名", "题号", "答案"])
    for i in range(n):
        qid = qids[i % len(qids)]
        ref = bank[qid]
        points = [kp.text for kp in ref.key_points]
        kept = rng.sample(points, k=rng.randint(0, len(points)))
        parts = [rng.choice(filler) + p for p in kept] or [rng.choice(off_topic)]
        if rng.random() < 0.3:
            parts.append(rng.choice(off_topic))
        answer = "".join(parts) + f"（{i}）"
        candidate = f"c{i // len(qids):05d}"
        writer.writerow([candidate, f"候选人{i // len(qids)}", qid, answer])
        rows.append((qid, answer))
    return out.getvalue().encode("utf-8"), rows


def engine_throughput(sample: list[tuple[str, str]]) -> tuple[float, float]:
    """(answers per wall second, answers per CPU second) of the engine alone, model loaded, grading in
    chunks as a worker does: the ceiling for one worker. In a fresh process each time: the engine caches
    per clause, and a second pass over the same sample in one process would measure those caches."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_engine_throughput, (sample,))


def _engine_throughput(sample: list[tuple[str, str]]) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT))
    from grader.batches.uploads import CHUNK_SIZE
    from grader.grading.grader import get_grader

    grader = get_grader()
    grader.grade("q01", "预热")  # load the model and embed the references first
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(sample), CHUNK_SIZE):
        grader.grade_many(sample[i : i + CHUNK_SIZE])
    return len(sample) / (time.perf_counter() - started), len(sample) / (time.process_time() - cpu)


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def start_service(env: dict[str, str], tmp: Path, concurrency: int | None) -> tuple[list[subprocess.Popen[bytes]], str]:
    """`grader worker` (its default pool unless `concurrency`) and `grader serve`, once the API answers."""
    label = "default" if concurrency is None else str(concurrency)
    pool = [] if concurrency is None else ["--concurrency", str(concurrency)]
    worker = start(["worker", *pool, "--log-level", "warning"], env, tmp / f"worker-{label}.log", tmp)
    api, base = start_api(env, tmp / f"api-{label}.log", tmp)
    return [api, worker], base


def interactive_probe(base: str, key: str, count: int, out: list[tuple[str, float, bool]], batch: list[bool]) -> None:
    """One REST answer per second while the batch runs: (submission id, when sent, batch still running)."""
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        for i in range(count):
            sent = time.perf_counter()
            created = client.post(
                "/api/v1/submissions",
                json={
                    "candidate_id": f"live-{i}",
                    "question_id": "q03",
                    "answer": f"多头注意力在不同子空间并行计算注意力（{i}）",
                },
            )
            assert created.status_code == 202, created.text
            out.append((created.json()["id"], sent, batch[0]))
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - sent)))


def run_batch(
    env: dict[str, str],
    db_url: str,
    tmp: Path,
    key: str,
    sheet: bytes,
    answers: int,
    concurrency: int | None,
    interactive: int,
) -> dict[str, object]:
    procs, base = start_service(env, tmp, concurrency)
    api, worker = procs
    try:
        client = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=300)
        # Warm up: the worker has loaded its model before forking; its processes' first tasks (references
        # embedded, connections opened) are not batch throughput.
        started = time.perf_counter()
        warm = [
            client.post(
                "/api/v1/submissions",
                json={"candidate_id": f"warm-{i}", "question_id": "q01", "answer": "RLHF 是基于人类反馈的强化学习"},
            ).json()["id"]
            for i in range(4)
        ]
        for sid in warm:
            while client.get(f"/api/v1/submissions/{sid}").json()["status"] in ("pending", "running"):
                time.sleep(0.2)
        warmup = time.perf_counter() - started

        worker_pids = [worker.pid, *children(worker.pid)]
        worker_cpu = cpu_seconds(worker_pids)
        started = time.perf_counter()
        response = client.post("/api/v1/batches", files={"file": ("bench.csv", sheet, "text/csv")})
        assert response.status_code == 202, response.text
        accepted = time.perf_counter() - started
        batch = response.json()
        probes: list[tuple[str, float, bool]] = []
        running = [True]
        prober = threading.Thread(target=interactive_probe, args=(base, key, interactive, probes, running))
        if interactive:
            prober.start()
        status: dict[str, object] = {}
        while True:
            status = client.get(f"/api/v1/batches/{batch['id']}").json()
            if status["status"] == "done":
                break
            time.sleep(0.5)
        running[0] = False
        graded = time.perf_counter() - started
        worker_cpu = cpu_seconds(worker_pids) - worker_cpu
        results = client.get(f"/api/v1/batches/{batch['id']}/results", params={"format": "csv"})
        assert results.status_code == 200
        wall = time.perf_counter() - started
        figures: dict[str, object] = {
            "worker_processes": len(children(worker.pid)),
            "upload_to_202_s": round(accepted, 2),
            "upload_to_all_graded_s": round(graded, 1),
            "wall_s": round(wall, 1),
            "answers_per_s": round(answers / wall, 2),
            "worker_cpu_s": round(worker_cpu, 1),
            "worker_answers_per_cpu_s": round(answers / worker_cpu, 1) if worker_cpu else None,
            "api_peak_rss_mb": round(peak_rss_mb(api.pid)),
            "worker_main_peak_rss_mb": round(peak_rss_mb(worker.pid)),
            "worker_pool_peak_rss_mb": [round(peak_rss_mb(c)) for c in children(worker.pid)],
            "worker_pool_private_mb": [round(private_mb(c)) for c in children(worker.pid)],
            "counts": status["counts"],
            "warmup_s": round(warmup, 1),
        }
        if interactive:
            prober.join()
            figures["interactive"] = interactive_latencies(db_url, probes)
        return figures
    finally:
        stop(procs)


def private_mb(pid: int) -> float:
    """Private (not shared with the other processes) resident memory: what a pool process adds."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    except OSError:
        return 0.0
    return sum(int(fields.get(k, "0 kB").split()[0]) for k in ("Private_Clean", "Private_Dirty")) / 1024


def interactive_latencies(db_url: str, probes: list[tuple[str, float, bool]]) -> dict[str, object]:
    """Submit (its row's created_at) to graded (graded_at), from the database: no polling in the figure."""
    deadline = time.monotonic() + 120
    with psycopg.connect(db_url) as conn:
        while True:
            rows = conn.execute(
                "SELECT id::text, created_at, graded_at, status FROM submissions WHERE id = ANY(%s::uuid[])",
                ([sid for sid, _, _ in probes],),
            ).fetchall()
            if all(r[2] is not None for r in rows) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    under = {sid for sid, _, during in probes if during}
    waits = sorted((r[2] - r[1]).total_seconds() for r in rows if r[2] is not None)
    during = sorted((r[2] - r[1]).total_seconds() for r in rows if r[2] is not None and r[0] in under)
    return {
        "submitted": len(probes),
        "submitted_while_batch_ran": len(under),
        "graded": len(waits),
        "p50_s": round(statistics.median(waits), 2) if waits else None,
        "p95_s": round(pct(waits, 95), 2) if waits else None,
        "max_s": round(max(waits), 2) if waits else None,
        "p95_s_while_batch_ran": round(pct(during, 95), 2) if during else None,
        "max_s_while_batch_ran": round(max(during), 2) if during else None,
    }


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--engine-sample", type=int, default=300)
    parser.add_argument("--interactive", type=int, default=50, help="REST answers, one per second, during the batch")
    parser.add_argument("--no-single", action="store_true", help="skip the one-process run (the ratio's baseline)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    redis_url = with_path(REDIS_URL, "/12")
    cleanup = ExitStack()
    queue = f"grader-bench-{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    sheet, rows = make_sheet(args.answers)
    print(f"sheet: {args.answers} answers, {len(sheet) / 1e6:.1f} MB; logs in {tmp}", file=sys.stderr)
    try:
        # The engine alone on a sample of the same answers, before and after: on a shared 2-core machine the
        # load can change during a long run, and the ratio is only fair against the same conditions.
        sample = rows[: args.engine_sample]
        engine_before, engine_cpu_before = engine_throughput(sample)
        runs: dict[str, dict[str, object]] = {}
        for label, concurrency, interactive in (
            *((("one process", 1, 0),) if not args.no_single else ()),
            ("default pool", None, args.interactive),
        ):
            db_url = cleanup.enter_context(throwaway_database())
            env = stack_env(db_url, redis_url, queue)
            migrate(env)
            key = make_key(env, "recruiter", "bench")
            runs[label] = run_batch(env, db_url, tmp, key, sheet, args.answers, concurrency, interactive)
            print(f"{label}: {json.dumps(runs[label])}", file=sys.stderr)
        engine_after, engine_cpu_after = engine_throughput(sample)
        engine = (engine_before + engine_after) / 2
        engine_cpu = (engine_cpu_before + engine_cpu_after) / 2
        default = runs["default pool"]
        figures: dict[str, object] = {
            "answers": args.answers,
            "sheet_mb": round(len(sheet) / 1e6, 2),
            "cores": os.cpu_count(),
            "engine_answers_per_s": round(engine, 2),
            "engine_before_after": [round(engine_before, 2), round(engine_after, 2)],
            "engine_answers_per_cpu_s": round(engine_cpu, 1),
            "ratio_default_to_engine": round(float(default["answers_per_s"]) / engine, 3),  # type: ignore[arg-type]
            "load_average": os.getloadavg(),
            **(
                {
                    "speedup_default_over_one_process": round(
                        float(default["answers_per_s"]) / float(runs["one process"]["answers_per_s"]),  # type: ignore[arg-type]
                        2,
                    )
                }
                if "one process" in runs
                else {}
            ),
            "runs": runs,
        }
        print(json.dumps(figures, indent=1))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1))
    finally:
        clear_queue(redis_url, queue)
        cleanup.close()


if __name__ == "__main__":
    main()
