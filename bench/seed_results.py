"""Reviewer queries at scale: seed N graded results into Postgres, then time the review queue and the
statistics through the real server (`grader serve`, loopback only, bounded in count).

Seeds a throwaway database (migrated with Alembic, so the indexes are the ones a deployment has) with
N submissions, their grades and result rows — 12 questions, about 1 in 6 waiting for review, ~8 % flagged,
~10 % reviewed, 40 % in batches, graded over 90 days — using COPY, then ANALYZE. Times sequential
requests (after a warm-up) of the queue page (API and dashboard HTML) and the stats endpoint (API and the
overview page), and prints p50/p95 per request; `--explain` also prints the queue's and stats' query plans.

    .venv/bin/python bench/seed_results.py [--results 100000] [--requests 200] [--explain] [--keep]
    .venv/bin/python bench/seed_results.py --reuse postgresql://…/grader_bench_ab12cd34 [--requests 200]

`--reuse` times the requests again on a database an earlier `--keep` run seeded (10,000,000 results take
about 50 minutes to seed), migrating it first; it is left in place.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import secrets
import statistics
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from _shared import REDIS_URL, ROOT, make_key, migrate, stack_env, start_api, stop, throwaway_database, with_path
from sqlalchemy.orm import Session

from grader.db.session import make_engine
from grader.questions.references import load_bank
from grader.review.aggregates import rebuild
from grader.settings import Settings

FLAGS = ["off_topic", "keyword_stuffing", "non_answer", "too_short", "copy_of_reference"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def seed(conn: psycopg.Connection, url: str, count: int, rng: random.Random) -> dict[str, float]:
    bank = load_bank(ROOT / "reference_answers")
    refs = list(bank.values())
    questions = {r.id: r for r in refs}
    now = datetime.now(UTC)
    # Questions and reference versions, as the API records them at startup.
    with conn.cursor() as cur:
        for r in refs:
            cur.execute(
                "INSERT INTO questions (id, text, current_hash, updated_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (r.id, r.question, r.content_hash, now),
            )
            cur.execute(
                "INSERT INTO reference_versions (question_id, content_hash, reference_answer, key_points, "
                "created_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    r.id,
                    r.content_hash,
                    r.reference_answer,
                    json.dumps(r.model_dump(mode="json")["key_points"], ensure_ascii=False),
                    now,
                ),
            )
    batch_ids = [uuid.uuid4() for _ in range(20)]
    with conn.cursor() as cur:
        for i, bid in enumerate(batch_ids):
            cur.execute(
                "INSERT INTO batches (id, content_hash, filename, file_format, layout, data_rows, accepted, "
                "rejected, row_errors, columns, created_at, finished_at) VALUES "
                "(%s, %s, %s, 'csv', 'long', %s, %s, 0, '[]', '{}', %s, %s)",
                (
                    bid,
                    secrets.token_hex(32),
                    f"bench-{i:02d}.csv",
                    count // 50,
                    count // 50,
                    now - timedelta(days=90 - i * 4),
                    now - timedelta(days=90 - i * 4, hours=-1),
                ),
            )
    sentences = {r.id: [s for s in re.split(r"[。\n]", r.reference_answer) if s.strip()] for r in refs}
    subs, grades, results, items = io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO()
    counts: dict[str, float] = {"needs_review": 0, "flagged": 0, "reviewed": 0, "in_batches": 0}

    def line(buf: io.StringIO, *values: object) -> None:
        out = []
        for v in values:
            if v is None:
                out.append("\\N")
            else:
                text = v if isinstance(v, str) else str(v)
                out.append(text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r"))
        buf.write("\t".join(out) + "\n")

    def flush() -> None:
        # COPY what is buffered and start again: 10,000,000 results do not fit in memory at once.
        with conn.cursor() as cur:
            for table, columns, buf in (
                (
                    "submissions",
                    "id, candidate_id, candidate_name, candidate_email, question_id, answer, status, "
                    "failure_reason, attempts, submitted_by, idempotency_key, request_hash, created_at, updated_at, "
                    "graded_at",
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
                    "submission_id, grade_id, question_id, candidate_id, batch_id, status, grader_score, "
                    "final_score, confidence, flags, flagged, reviewed, overridden, review_count, reviewed_at, "
                    "reviewed_by, key_point_corrections, graded_at",
                    results,
                ),
                ("batch_items", "submission_id, batch_id, position, row", items),
            ):
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(buf.getvalue())
        for buf in (subs, grades, results, items):
            buf.seek(0)
            buf.truncate()

    positions: dict[uuid.UUID, int] = {}
    for n in range(1, count + 1):
        ref = refs[n % len(refs)]
        sid = uuid.uuid4()
        parts = sentences[ref.id][:]
        rng.shuffle(parts)
        answer = "。".join(parts[: rng.randint(1, len(parts))]) + "。"
        created = now - timedelta(days=rng.uniform(0, 90))
        graded = created + timedelta(seconds=rng.uniform(1, 30))
        quality = rng.betavariate(2.2, 1.8)
        flags = [rng.choice(FLAGS)] if rng.random() < 0.08 else []
        confidence = round(min(1.0, max(0.0, rng.betavariate(5, 2) - (0.3 if flags else 0))), 3)
        needs_review = bool(flags) or confidence < 0.5
        score = round(quality * 100 if not flags else quality * 30, 1)
        key_points = []
        for kp in ref.key_points:
            credit = round(min(1.0, max(0.0, rng.gauss(quality, 0.2))), 3)
            span = parts[0]
            start = answer.find(span)
            key_points.append(
                {
                    "id": kp.id,
                    "text": kp.text,
                    "weight": kp.weight,
                    "credit": credit,
                    "similarity": round(rng.uniform(0.2, 0.9), 3),
                    "keywords_hit": [k.term for k in kp.keywords[:1]],
                    "keywords_missed": [k.term for k in kp.keywords[1:]],
                    "evidence": {"start": start, "end": start + len(span), "text": span} if credit > 0.25 else None,
                    "contradicted": False,
                    "contradiction": None,
                }
            )
        reviewed = rng.random() < 0.10
        final = round(min(100.0, max(0.0, score + rng.gauss(0, 8))), 1) if reviewed else score
        status = "graded" if reviewed or not needs_review else "needs_review"
        batch_id = batch_ids[n % len(batch_ids)] if n % 5 < 2 else None
        line(
            subs,
            sid,
            f"cand-{n // 6:06d}",
            f"候选人{n // 6}",
            None,
            ref.id,
            answer,
            status,
            None,
            1,
            None,
            None,
            None,
            created.isoformat(),
            graded.isoformat(),
            graded.isoformat(),
        )
        line(
            grades,
            n,
            sid,
            ref.id,
            "1.0",
            ref.content_hash,
            "use",
            "bench",
            score,
            confidence,
            json.dumps(flags),
            json.dumps(key_points, ensure_ascii=False),
            f"得分 {score:.0f}/100。",
            "{}",
            graded.isoformat(),
        )
        line(
            results,
            sid,
            n,
            ref.id,
            f"cand-{n // 6:06d}",
            batch_id,
            status,
            score,
            final,
            confidence,
            "|" + "|".join(flags) + "|" if flags else "",
            bool(flags),
            reviewed,
            reviewed and final != score,
            int(reviewed),
            (graded + timedelta(days=1)).isoformat() if reviewed else None,
            "bench-reviewer" if reviewed else None,
            "[]",
            graded.isoformat(),
        )
        if batch_id is not None:
            positions[batch_id] = positions.get(batch_id, 0) + 1
            line(items, sid, batch_id, positions[batch_id], positions[batch_id] + 1)
            counts["in_batches"] += 1
        counts["needs_review"] += status == "needs_review"
        counts["flagged"] += bool(flags)
        counts["reviewed"] += reviewed
        if n % 200_000 == 0:
            flush()
    assert len(questions) == len(refs)
    flush()
    with conn.cursor() as cur:
        cur.execute("SELECT setval(pg_get_serial_sequence('grades', 'id'), (SELECT max(id) FROM grades))")
    conn.commit()
    # The statistics' running sums over the seeded rows: what migration 0008's backfill computes.
    t0 = time.perf_counter()
    engine = make_engine(Settings(database_url=url, secret_key=secrets.token_hex(32)).database_url)
    with engine.begin() as connection:
        rebuild(Session(bind=connection))
    engine.dispose()
    counts["backfill_seconds"] = round(time.perf_counter() - t0, 1)
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE")
    conn.autocommit = False
    return counts


def time_requests(client: httpx.Client, path: str, params: dict[str, str], n: int) -> dict[str, float]:
    for _ in range(10):  # warm-up: connection pool, first-request imports, Postgres buffers
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
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--explain", action="store_true", help="print the queue's and stats' query plans")
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    parser.add_argument("--reuse", metavar="URL", help="time the requests on a database a --keep run seeded")
    args = parser.parse_args()

    redis_url = with_path(REDIS_URL, "/13")
    logs = ROOT / "bench" / "out"
    logs.mkdir(parents=True, exist_ok=True)
    cleanup = ExitStack()
    db_url = args.reuse or cleanup.enter_context(throwaway_database(keep=args.keep))
    env = stack_env(db_url, redis_url, f"grader-bench-{secrets.token_hex(4)}")
    server = None
    try:
        migrate(env)
        t0 = time.perf_counter()
        with psycopg.connect(db_url) as conn:
            if args.reuse:
                row = conn.execute("SELECT count(*) FROM results").fetchone()
                args.results = row[0] if row else 0
                counts = {"reused": 1.0}
            else:
                counts = seed(conn, db_url, args.results, random.Random(5))
            if args.explain:
                for label, query in (
                    (
                        "queue",
                        "SELECT * FROM results WHERE status = 'needs_review' "
                        "ORDER BY confidence, submission_id LIMIT 50",
                    ),
                    (
                        "stats (the running sums)",
                        "SELECT question_id, sum(results), sum(final_sum) FROM result_day_stats GROUP BY question_id",
                    ),
                ):
                    plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}").fetchall()
                    print(f"-- {label}\n" + "\n".join(row[0] for row in plan), flush=True)
        seeded = round(time.perf_counter() - t0, 1)
        print(json.dumps({"seeded": args.results, "seconds": seeded, **counts}), flush=True)
        key = make_key(env, "reviewer", "bench-reviewer")
        server, base = start_api(env, logs / "review-api.log")
        report: dict[str, object] = {"results": args.results, "requests_per_endpoint": args.requests}
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as api:
            report["GET /api/v1/results/queue (first page, 50)"] = time_requests(
                api, "/api/v1/results/queue", {"limit": "50"}, args.requests
            )
            report["GET /api/v1/results/queue?question_id=q05&confidence_below=0.4"] = time_requests(
                api, "/api/v1/results/queue", {"question_id": "q05", "confidence_below": "0.4"}, args.requests
            )
            report["GET /api/v1/stats"] = time_requests(api, "/api/v1/stats", {}, args.requests)
            report["GET /api/v1/results?sort=-graded_at&offset=5000"] = time_requests(
                api, "/api/v1/results", {"sort": "-graded_at", "offset": "5000"}, args.requests
            )
            # The same depth by keyset: the cursor after row 5,000, taken once from an offset page.
            page = api.get("/api/v1/results", params={"sort": "-graded_at", "offset": "4950", "limit": "50"})
            cursor = page.json()["next_cursor"]
            report["GET /api/v1/results?sort=-graded_at&cursor=<after row 5000>"] = time_requests(
                api, "/api/v1/results", {"sort": "-graded_at", "cursor": cursor}, args.requests
            )
        with httpx.Client(base_url=base, timeout=30) as browser:
            form = browser.get("/dashboard/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token is not None
            signed = browser.post("/dashboard/login", data={"api_key": key, "csrf_token": token.group(1)})
            assert signed.status_code == 303, signed.text[:300]
            report["GET /dashboard/queue (HTML, first page)"] = time_requests(
                browser, "/dashboard/queue", {}, args.requests
            )
            report["GET /dashboard/overview (HTML, stats + agreement)"] = time_requests(
                browser, "/dashboard/overview", {}, args.requests
            )
        for label, figures in report.items():
            print(f"{label}: {figures}", flush=True)
        (logs / "review_bench.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
        if args.keep or args.reuse:
            print(f"kept database: {db_url}")
    finally:
        stop([server] if server is not None else [])
        cleanup.close()


if __name__ == "__main__":
    main()
