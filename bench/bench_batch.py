"""Batch grading end to end: an N-answer sheet through the real API, Redis, one worker and Postgres.

    .venv/bin/python bench/bench_batch.py --answers 10000

Starts `grader serve` and `grader worker --concurrency 1` as subprocesses on a throwaway Postgres
database (GRADER_TEST_DATABASE_URL's server) and Redis (GRADER_TEST_REDIS_URL), warms the worker's model
with one submission, then times upload → every answer finished → results downloaded. Reports answers/s,
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from _shared import children, cpu_seconds, free_port, with_path
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GRADER = str(Path(sys.executable).with_name("grader"))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--engine-sample", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    pg_admin = os.environ.get("GRADER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    redis_url = with_path(os.environ.get("GRADER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), "/12")
    name = f"grader_bench_{secrets.token_hex(4)}"
    queue = f"grader-bench-{secrets.token_hex(4)}"
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db_url = with_path(pg_admin, "/" + name)
    tmp = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(GRADER_DATABASE_URL=db_url, GRADER_REDIS_URL=redis_url, GRADER_CELERY_QUEUE=queue, PYTHONUNBUFFERED="1")
    # With Redis and Postgres configured the settings refuse the placeholder secret.
    env["GRADER_SECRET_KEY"] = secrets.token_hex(32)
    env["GRADER_RATE_LIMIT_PER_SECOND"] = "0"  # the bench is the only client; measure the service
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([GRADER, "db", "upgrade"], env=env, check=True, capture_output=True)
        key = subprocess.run(
            [GRADER, "keys", "create", "--role", "recruiter", "--name", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        port = free_port()
        api_log, worker_log = (tmp / "api.log").open("wb"), (tmp / "worker.log").open("wb")
        api = subprocess.Popen(
            [GRADER, "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=api_log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
        worker = subprocess.Popen(
            [GRADER, "worker", "--concurrency", "1", "--log-level", "warning"],
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
        procs += [api, worker]
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=300)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"API did not start; see {tmp / 'api.log'}")
            time.sleep(0.3)

        sheet, rows = make_sheet(args.answers)
        print(f"sheet: {args.answers} answers, {len(sheet) / 1e6:.1f} MB", file=sys.stderr)
        # The engine alone on a sample of the same answers, before and after: on a shared 2-core machine the
        # load can change during a long run, and the ratio is only fair against the same conditions.
        sample = rows[: args.engine_sample]
        engine_before, engine_cpu_before = engine_throughput(sample)

        # Warm up: the worker loads its model on its first task; that one-time cost is not batch throughput.
        started = time.perf_counter()
        created = client.post(
            "/api/v1/submissions",
            json={"candidate_id": "warm", "question_id": "q01", "answer": "RLHF 是基于人类反馈的强化学习"},
        ).json()
        while client.get(f"/api/v1/submissions/{created['id']}").json()["status"] in ("pending", "running"):
            time.sleep(0.2)
        warmup = time.perf_counter() - started
        print(f"worker warm after {warmup:.1f} s", file=sys.stderr)

        worker_pids = [worker.pid, *children(worker.pid)]
        main_cpu, worker_cpu = cpu_seconds(worker_pids[:1]), cpu_seconds(worker_pids)
        started = time.perf_counter()
        response = client.post("/api/v1/batches", files={"file": ("bench.csv", sheet, "text/csv")})
        assert response.status_code == 202, response.text
        accepted = time.perf_counter() - started
        batch = response.json()
        status: dict[str, object] = {}
        while True:
            status = client.get(f"/api/v1/batches/{batch['id']}").json()
            if status["status"] == "done":
                break
            time.sleep(1.0)
        graded = time.perf_counter() - started
        worker_cpu = cpu_seconds(worker_pids) - worker_cpu
        main_cpu = cpu_seconds(worker_pids[:1]) - main_cpu
        results = client.get(f"/api/v1/batches/{batch['id']}/results", params={"format": "csv"})
        assert results.status_code == 200
        wall = time.perf_counter() - started

        api_rss = peak_rss_mb(api.pid)
        worker_children = children(worker.pid)
        worker_rss = peak_rss_mb(worker.pid)
        pool_rss = max((peak_rss_mb(c) for c in worker_children), default=0.0)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        procs.clear()

        engine_after, engine_cpu_after = engine_throughput(sample)
        engine = (engine_before + engine_after) / 2
        engine_cpu = (engine_cpu_before + engine_cpu_after) / 2
        rate = args.answers / wall
        worker_rate = args.answers / worker_cpu if worker_cpu else float("inf")
        figures = {
            "answers": args.answers,
            "sheet_mb": round(len(sheet) / 1e6, 2),
            "upload_to_202_s": round(accepted, 2),
            "upload_to_all_graded_s": round(graded, 1),
            "wall_s": round(wall, 1),
            "answers_per_s": round(rate, 2),
            "engine_answers_per_s": round(engine, 2),
            "engine_before_after": [round(engine_before, 2), round(engine_after, 2)],
            "ratio_to_engine": round(rate / engine, 3),
            "load_average": os.getloadavg(),
            "worker_cpu_s": round(worker_cpu, 1),
            "worker_main_process_cpu_s": round(main_cpu, 1),
            "worker_answers_per_cpu_s": round(worker_rate, 1),
            "engine_answers_per_cpu_s": round(engine_cpu, 1),
            "engine_cpu_before_after": [round(engine_cpu_before, 1), round(engine_cpu_after, 1)],
            "cpu_ratio_to_engine": round(worker_rate / engine_cpu, 3),
            "api_peak_rss_mb": round(api_rss),
            "worker_main_peak_rss_mb": round(worker_rss),
            "worker_pool_peak_rss_mb": round(pool_rss),
            "counts": status["counts"],
            "worker_warmup_s": round(warmup, 1),
        }
        print(json.dumps(figures, indent=1))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1))
    finally:
        for proc in procs:
            proc.kill()
        import redis

        client_redis = redis.Redis.from_url(redis_url)
        for stale in client_redis.scan_iter(f"*{queue}*"):
            client_redis.delete(stale)
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
