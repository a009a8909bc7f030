"""Candidate ranking at scale: N candidates × 12 answers in a throwaway Postgres, then GET /api/v1/candidates
(ranked by score, first page of 50) and one candidate's scorecard through the real server.

Seeds submissions, grades and result rows with COPY (about 5 % of candidates with an answer waiting for
review, 2 % with one still pending, 10 % reviewed answers), all sent by one recruiter's key, then ANALYZE.
Times sequential requests after a warm-up, as that recruiter (the scoping a recruiter's call pays), and
prints p50/p95/max per request.

    .venv/bin/python bench/bench_ranking.py [--candidates 1000] [--answers 12] [--requests 200] [--explain]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import secrets
import statistics
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from _shared import REDIS_URL, ROOT, make_key, migrate, stack_env, start_api, stop, throwaway_database, with_path

NULL = "\\N"  # COPY's NULL


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def seed(conn: psycopg.Connection, key_id: int, candidates: int, answers: int, rng: random.Random) -> None:
    pins = conn.execute(
        "SELECT q.question_id, q.content_hash FROM bank_version_questions q "
        "JOIN bank_versions v ON v.id = q.bank_version_id JOIN banks b ON b.id = v.bank_id "
        "WHERE b.name = 'llm' ORDER BY q.position"
    ).fetchall()
    pins = pins[:answers]
    now = datetime.now(UTC)
    subs, grades, results = io.StringIO(), io.StringIO(), io.StringIO()
    grade_id = 0
    for c in range(candidates):
        level = rng.uniform(20, 90)
        waiting = rng.random() < 0.05
        pending = rng.random() < 0.02
        created = now - timedelta(days=rng.uniform(0, 60))
        for i, (qid, content_hash) in enumerate(pins):
            sid = uuid.uuid4()
            status = "graded"
            if waiting and i == 3:
                status = "needs_review"
            if pending and i == 5:
                status = "pending"
            score = max(0.0, min(100.0, rng.gauss(level, 12)))
            subs.write(
                f"{sid}\tc-{c:05d}\t考生{c}\t{qid}\tanswer {c} {i}\t{status}\t0\t{key_id}\t{created.isoformat()}\t"
                f"{created.isoformat()}\t{NULL if status == 'pending' else created.isoformat()}\t{content_hash}\n"
            )
            if status == "pending":
                continue
            grade_id += 1
            grades.write(
                f"{grade_id}\t{sid}\t{qid}\t1.2\t{content_hash}\tuse\tshipped\t{score:.2f}\t0.8\t[]\t[]\tok\t{{}}\t"
                f"{created.isoformat()}\n"
            )
            reviewed = rng.random() < 0.1
            final = score if not reviewed else max(0.0, min(100.0, score + rng.uniform(-15, 15)))
            results.write(
                f"{sid}\t{grade_id}\t{qid}\tc-{c:05d}\t\\N\t{status}\t{score:.2f}\t{final:.2f}\t0.8\t\tf\t"
                f"{'t' if reviewed else 'f'}\t{'t' if reviewed and final != score else 'f'}\t{int(reviewed)}\t"
                f"{created.isoformat() if reviewed else NULL}\t{'reviewer' if reviewed else NULL}\t[]\t"
                f"{created.isoformat()}\n"
            )
    with conn.cursor() as cur:
        for table, columns, buf in (
            (
                "submissions",
                "id, candidate_id, candidate_name, question_id, answer, status, attempts, submitted_by, created_at, "
                "updated_at, graded_at, reference_hash",
                subs,
            ),
            (
                "grades",
                "id, submission_id, question_id, scoring_version, reference_hash, embedder, calibration, score, "
                "confidence, flags, key_points, feedback, signals, created_at",
                grades,
            ),
            (
                "results",
                "submission_id, grade_id, question_id, candidate_id, batch_id, status, grader_score, final_score, "
                "confidence, flags, flagged, reviewed, overridden, review_count, reviewed_at, reviewed_by, "
                "key_point_corrections, graded_at",
                results,
            ),
        ):
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(buf.getvalue())
        cur.execute("SELECT setval(pg_get_serial_sequence('grades', 'id'), %s)", (grade_id,))
    conn.commit()
    conn.execute("ANALYZE")


def time_requests(client: httpx.Client, path: str, params: dict[str, str], n: int) -> dict[str, float]:
    for _ in range(10):
        assert client.get(path, params=params).status_code == 200
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path, params=params)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text[:300]
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(pct(samples, 95), 1),
        "max_ms": round(max(samples), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--answers", type=int, default=12, help="answers per candidate (questions of the llm bank)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--explain", action="store_true", help="print the ranking query's plan")
    args = parser.parse_args()

    logs = ROOT / "bench" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    cleanup = ExitStack()
    db_url = cleanup.enter_context(throwaway_database())
    env = stack_env(db_url, with_path(REDIS_URL, "/13"), f"grader-bench-{secrets.token_hex(4)}")
    server = None
    try:
        migrate(env)
        key = make_key(env, "recruiter", "bench-recruiter")
        with psycopg.connect(db_url) as conn:
            key_id = conn.execute("SELECT id FROM api_keys WHERE name = 'bench-recruiter'").fetchone()[0]  # type: ignore[index]
            t0 = time.perf_counter()
            seed(conn, key_id, args.candidates, args.answers, random.Random(7))
            print(
                json.dumps(
                    {
                        "candidates": args.candidates,
                        "answers": args.answers,
                        "seeded_seconds": round(time.perf_counter() - t0, 1),
                    }
                ),
                flush=True,
            )
        server, base = start_api(env, logs / "ranking-api.log")
        report: dict[str, object] = {"candidates": args.candidates, "answers_each": args.answers}
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as api:
            report["GET /api/v1/candidates?sort=score (first page, 50)"] = time_requests(
                api, "/api/v1/candidates", {"sort": "score", "limit": "50"}, args.requests
            )
            report["GET /api/v1/candidates?bank=llm&sort=score&offset=500"] = time_requests(
                api, "/api/v1/candidates", {"bank": "llm", "sort": "score", "offset": "500"}, args.requests
            )
            report["GET /api/v1/candidates/{id} (scorecard with standing)"] = time_requests(
                api, "/api/v1/candidates/c-00042", {}, args.requests
            )
        for label, figures in report.items():
            print(f"{label}: {figures}", flush=True)
        (logs / "ranking_bench.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    finally:
        stop([server] if server is not None else [])
        cleanup.close()


if __name__ == "__main__":
    main()
