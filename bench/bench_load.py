"""Load: sustained submissions at the rate one worker can grade, then a 10× burst. Loopback only, bounded
in count and time; stops by itself and removes what it created.

1. Starts `grader serve` (Redis mode, Postgres, default rate limits), one `grader worker` (its default pool,
   or `--concurrency N`)
   with the default embedder, and `grader beat`, on a throwaway database and a queue of its own.
2. Warms the worker (model load), then measures its grading rate R on a backlog of `--calibrate` answers
   (sent at once; R read from the rows' first arrival and last grade).
3. Sustained: submits open-loop at R answers/s for `--sustain` seconds (default 300).
4. Burst: submits at 10 × R for `--burst` seconds (default 20).
5. Drains: waits until every accepted answer is finished (bounded by `--drain`).

Reports per phase: sent, accepted (202), refused, p50/p95/p99 request latency; overall: graded, failed,
lost (accepted but never finished), duplicated (more than one grade for a submission), drain time, and
RSS of the API and worker processes sampled every 5 s (first, last, max) to show memory is steady.

    .venv/bin/python bench/bench_load.py [--sustain 300] [--burst 20] [--factor 10] [--out bench/out/load.json]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import redis
from _shared import free_port, with_path
from bench_api import GRADER, ROOT, answers
from psycopg import sql

MAX_REQUESTS = 20_000  # hard cap whatever the rate says


def rss_mb(pid: int) -> float:
    """RSS of a process and its children (a Celery worker's pool), in MB."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return round(total, 1)


def pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0] * 1000, 1)
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 1)


class Sender:
    """Open-loop: request i is sent at t0 + i / rate whatever the previous ones are doing."""

    def __init__(self, base: str, keys: list[str], payloads: list[tuple[str, str]]) -> None:
        self.base = base
        self.keys = keys
        self.payloads = payloads
        self.lock = threading.Lock()
        self.local = threading.local()
        self.sent = 0
        self.ids: list[str] = []

    def client(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(base_url=self.base, timeout=30)
        return self.local.client

    def one(self, i: int, phase: str) -> tuple[int, float]:
        qid, text = self.payloads[i % len(self.payloads)]
        start = time.perf_counter()
        try:
            # Recruiters share the load: each key stays under its own rate limit (50/s by default).
            r = self.client().post(
                "/api/v1/submissions",
                json={
                    "candidate_id": f"load-{phase}-{i}",
                    "candidate_name": f"候选人{i}",
                    "question_id": qid,
                    "answer": text,
                },
                headers={"Idempotency-Key": f"{phase}-{i}", "X-API-Key": self.keys[i % len(self.keys)]},
            )
            code = r.status_code
            if code == 202:
                with self.lock:
                    self.ids.append(r.json()["id"])
        except httpx.HTTPError:
            code = 0
        return code, time.perf_counter() - start

    def run(self, phase: str, rate: float, seconds: float, pool: ThreadPoolExecutor) -> dict[str, object]:
        n = min(int(rate * seconds), MAX_REQUESTS - self.sent)
        self.sent += n
        t0 = time.monotonic()
        futures = []
        for i in range(n):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(self.one, i, phase))
        results = [f.result() for f in futures]
        codes = [c for c, _ in results]
        latencies = [t for c, t in results if c == 202]
        return {
            "phase": phase,
            "rate_per_s": round(rate, 2),
            "seconds": round(time.monotonic() - t0, 1),
            "sent": n,
            "accepted": codes.count(202),
            "refused": {str(c): codes.count(c) for c in set(codes) if c != 202},
            "p50_ms": pct(latencies, 50),
            "p95_ms": pct(latencies, 95),
            "p99_ms": pct(latencies, 99),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sustain", type=float, default=300, help="seconds at the worker's rate")
    parser.add_argument("--burst", type=float, default=20, help="seconds at factor × that rate")
    parser.add_argument("--factor", type=float, default=10)
    parser.add_argument("--calibrate", type=int, default=1500, help="answers used to measure the worker's rate")
    parser.add_argument(
        "--calibrate-send", type=float, default=1000, help="answers/s sent for the calibration (a backlog at once)"
    )
    parser.add_argument("--concurrency", type=int, help="the worker's grading processes (default: its own)")
    parser.add_argument("--keys", type=int, default=4, help="recruiter keys the submissions are spread over")
    parser.add_argument("--drain", type=float, default=900, help="give up waiting for the backlog after this")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "load.json")
    parser.add_argument(
        "--worker-log-level", default="warning", help="info logs each task and the answers graded together"
    )
    args = parser.parse_args()

    admin_url = os.environ.get("GRADER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    redis_base = os.environ.get("GRADER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    for url in (admin_url, redis_base):
        assert "127.0.0.1" in url or "localhost" in url, f"loopback only: {url}"
    redis_url = with_path(redis_base, "/11")
    name = f"grader_load_{secrets.token_hex(4)}"
    queue = f"grader-load-{secrets.token_hex(4)}"
    db_url = with_path(admin_url, "/" + name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(
        GRADER_DATABASE_URL=db_url,
        GRADER_REDIS_URL=redis_url,
        GRADER_CELERY_QUEUE=queue,
        GRADER_SECRET_KEY=secrets.token_hex(32),
        GRADER_STUCK_AFTER_SECONDS="120",
        PYTHONUNBUFFERED="1",
    )
    logs = ROOT / "bench" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    samples: list[dict[str, float]] = []
    stop = threading.Event()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        subprocess.run([GRADER, "db", "upgrade"], env=env, check=True, capture_output=True)
        keys = [
            subprocess.run(
                [GRADER, "keys", "create", "--role", "recruiter", "--name", f"load-{i}"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            for i in range(args.keys)
        ]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        pool_args = [] if args.concurrency is None else ["--concurrency", str(args.concurrency)]
        for label, cmd in (
            ("api", ["serve", "--port", str(port), "--log-level", "warning"]),
            ("worker", ["worker", *pool_args, "--log-level", args.worker_log_level]),
            ("beat", ["beat", "--log-level", "warning", "--schedule-file", str(logs / f"load-beat-{queue}")]),
        ):
            procs[label] = subprocess.Popen(
                [GRADER, *cmd], env=env, stdout=(logs / f"load-{label}.log").open("wb"), stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("API did not start; see bench/out/load-api.log")
            time.sleep(0.2)

        def sample() -> None:
            while not stop.wait(5):
                samples.append(
                    {
                        "t": round(time.monotonic() - started, 1),
                        "api_mb": rss_mb(procs["api"].pid),
                        "worker_mb": rss_mb(procs["worker"].pid),
                    }
                )

        conn = psycopg.connect(db_url, autocommit=True)

        def open_count() -> int:
            row = conn.execute("SELECT count(*) FROM submissions WHERE status IN ('pending', 'running')").fetchone()
            assert row is not None
            return int(row[0])

        def wait_drained(limit: float) -> float:
            t0 = time.monotonic()
            while open_count() and time.monotonic() - t0 < limit:
                time.sleep(0.5)
            return time.monotonic() - t0

        started = time.monotonic()
        threading.Thread(target=sample, daemon=True).start()
        payloads = answers(500, seed=random.randrange(1000))
        sender = Sender(base, keys, payloads)
        with ThreadPoolExecutor(max_workers=64) as pool:
            # Warm-up: the worker loads its model on the first answer.
            sender.run("warmup", 1, 1, pool)
            warm = wait_drained(300)
            # Calibrate: the worker's own rate on a backlog. The answers go in as fast as the API takes them
            # (`--calibrate-send`/s), so the worker has a backlog from its first task on, and the rate is read
            # from the rows: answers / (last graded_at - first created_at). Until 2026-12-05 it was 150 answers
            # sent at 200/s over wall time polled every 0.5 s, which cannot read above ~120/s whatever the
            # worker does (0.75 s of sending plus a poll); that figure is still reported as `polled_rate_per_s`.
            t0 = time.monotonic()
            sender.run("calibrate", args.calibrate_send, args.calibrate / args.calibrate_send, pool)
            wait_drained(600)
            polled = args.calibrate / (time.monotonic() - t0)
            span = conn.execute(
                "SELECT count(*), extract(epoch FROM max(graded_at) - min(created_at)) FROM submissions "
                "WHERE candidate_id LIKE 'load-calibrate-%'"
            ).fetchone()
            assert span is not None and span[1]
            rate = int(span[0]) / float(span[1])
            calibrated = {"warmup_s": round(warm, 1), "worker_rate_per_s": round(rate, 2)}
            print(json.dumps(calibrated | {"polled_rate_per_s": round(polled, 2)}), flush=True)
            phases = [sender.run("sustained", rate, args.sustain, pool)]
            backlog_after_sustained = open_count()
            print(json.dumps(phases[-1] | {"backlog_at_end": backlog_after_sustained}), flush=True)
            phases.append(sender.run("burst", rate * args.factor, args.burst, pool))
            backlog_after_burst = open_count()
            print(json.dumps(phases[-1] | {"backlog_at_end": backlog_after_burst}), flush=True)
        drained = wait_drained(args.drain)
        stop.set()
        ids = sender.ids
        row = conn.execute("""
            SELECT count(*) FILTER (WHERE status IN ('graded', 'needs_review')),
                   count(*) FILTER (WHERE status = 'failed'),
                   count(*) FILTER (WHERE status IN ('pending', 'running')), count(*)
            FROM submissions""").fetchone()
        assert row is not None
        graded, failed, still_open, rows = (int(v) for v in row)
        dup = conn.execute(
            "SELECT count(*) FROM (SELECT submission_id FROM grades GROUP BY 1 HAVING count(*) > 1) d"
        ).fetchone()
        conn.close()
        memory = (
            {
                label: {
                    "first": samples[0][f"{label}_mb"],
                    "last": samples[-1][f"{label}_mb"],
                    "max": max(s[f"{label}_mb"] for s in samples),
                }
                for label in ("api", "worker")
            }
            if samples
            else {}
        )
        figures = {
            "worker_rate_per_s": round(rate, 2),
            "polled_rate_per_s": round(polled, 2),
            "factor": args.factor,
            "phases": phases,
            # rows > accepted: requests the server committed after the client had given up (timeout);
            # a real client retries those with the same Idempotency-Key and gets the same submission.
            "accepted": len(ids),
            "rows": rows,
            "graded": graded,
            "failed": failed,
            "lost": rows - graded - failed,
            "still_open_at_end": still_open,
            "duplicated": int(dup[0]) if dup else None,
            "backlog_after_sustained": backlog_after_sustained,
            "backlog_after_burst": backlog_after_burst,
            "drain_s_after_burst": round(drained, 1),
            "drained": still_open == 0,
            "drain_rate_per_s": round(backlog_after_burst / drained, 2) if drained > 0 else None,
            "memory_mb": memory,
            "rss_samples": samples[:: max(1, len(samples) // 40)],
            "wall_s": round(time.monotonic() - started, 1),
            "load_average": os.getloadavg(),
        }
        args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=1))
        print(json.dumps({k: v for k, v in figures.items() if k != "rss_samples"}, ensure_ascii=False), flush=True)
    finally:
        stop.set()
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        client = redis.Redis.from_url(redis_url)
        for k in client.scan_iter(f"*{queue}*"):
            client.delete(k)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
