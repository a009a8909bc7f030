"""What the fault-injection tests share: the process stack, outcome counting, reports (fixtures in
conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from grader.db.session import get_engine
from grader.settings import Settings
from tests.support.processes import Process, grader_env
from tests.support.services import ServerThread, wait_until

STUCK_AFTER = 6  # seconds: the sweeps' deadline in these tests (production default 300)


def report(name: str, **figures: Any) -> None:
    print(f"\nRELIABILITY {json.dumps({'test': name, **figures}, ensure_ascii=False)}")


@dataclass
class Stack:
    """Settings and processes of one test: API (in-process or a subprocess), workers, beat."""

    settings: Settings
    tmp: Path
    processes: list[Process] = field(default_factory=list)
    started: int = 0

    @property
    def env(self) -> dict[str, str]:
        s = self.settings
        return grader_env(
            database_url=s.database_url,
            redis_url=s.redis_url,
            celery_queue=s.celery_queue,
            embedder=s.embedder,
            stuck_after_seconds=str(s.stuck_after_seconds),
            rate_limit_per_second="0",
        )

    def start(self, *args: str, ready: str, timeout: float = 90) -> Process:
        self.started += 1
        name = f"{self.started:02d}-{args[0]}"
        process = Process(list(args), self.env, self.tmp / f"{name}.log", self.tmp)
        self.processes.append(process)
        process.wait_for(ready, timeout=timeout)
        return process

    def worker(self) -> Process:
        return self.start("worker", "--concurrency", "1", "--log-level", "info", ready="ready.")

    def beat(self) -> Process:
        schedule = self.tmp / f"beat-{self.started}.schedule"
        return self.start("beat", "--log-level", "info", "--schedule-file", str(schedule), ready="beat: Starting")

    def serve(self, port: int) -> Process:
        return self.start("serve", "--port", str(port), "--log-level", "info", ready="Application startup complete")

    def api(self) -> ServerThread:
        return ServerThread(self.settings.model_copy(update={"rate_limit_per_second": 0}))

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.output()[-tail:]}" for p in self.processes)

    def stop_all(self) -> None:
        for process in self.processes:
            with suppress(Exception):
                process.stop()


def kill(process: Process) -> None:
    """SIGKILL the whole process group: a Celery worker's main process and its pool children."""
    with suppress(ProcessLookupError):
        os.killpg(process.proc.pid, signal.SIGKILL)
    process.proc.wait(10)


def freeze(process: Process) -> None:
    """SIGSTOP the whole process group, so what the database shows stays true until it is killed or thawed."""
    with suppress(ProcessLookupError):
        os.killpg(process.proc.pid, signal.SIGSTOP)


def thaw(process: Process) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.proc.pid, signal.SIGCONT)


def drop_queues(url: str, queue: str) -> None:
    import redis

    with suppress(redis.RedisError):
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        for key in client.scan_iter(f"*{queue}*"):
            client.delete(key)


@dataclass
class Outcome:
    submitted: int
    by_status: dict[str, int]
    grade_rows: int
    graded_submissions: int
    duplicated: int  # submissions with more than one grade row or more than one "graded" audit entry
    failed_without_reason: int
    failure_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return sum(n for s, n in self.by_status.items() if s not in ("pending", "running"))

    @property
    def open(self) -> int:
        return self.by_status.get("pending", 0) + self.by_status.get("running", 0)

    @property
    def graded(self) -> int:
        return self.by_status.get("graded", 0) + self.by_status.get("needs_review", 0)

    def figures(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted,
            "graded": self.graded,
            "failed": self.by_status.get("failed", 0),
            "lost": self.submitted - self.finished,
            "duplicated": self.duplicated,
            "grade_rows": self.grade_rows,
            "statuses": self.by_status,
            **({"failure_reasons": self.failure_reasons} if self.failure_reasons else {}),
        }


def outcome(settings: Settings, key_id: int) -> Outcome:
    """What the database says about every submission sent with API key `key_id`."""
    mine = "SELECT id FROM submissions WHERE submitted_by = :key"
    with get_engine(settings.database_url).connect() as conn:
        by_status: dict[str, int] = dict(
            conn.execute(
                text("SELECT status, count(*) FROM submissions WHERE submitted_by = :key GROUP BY status"),
                {"key": key_id},
            ).all()
        )
        grade_rows = conn.scalar(text(f"SELECT count(*) FROM grades WHERE submission_id IN ({mine})"), {"key": key_id})
        graded = conn.scalar(
            text(f"SELECT count(DISTINCT submission_id) FROM grades WHERE submission_id IN ({mine})"), {"key": key_id}
        )
        duplicated = conn.scalar(
            text(f"""
            SELECT count(*) FROM (
                SELECT submission_id FROM grades WHERE submission_id IN ({mine})
                GROUP BY submission_id HAVING count(*) > 1
                UNION
                SELECT entity_id::uuid FROM audit_log WHERE action = 'submission.graded'
                  AND entity_id::uuid IN ({mine}) GROUP BY entity_id HAVING count(*) > 1) d"""),
            {"key": key_id},
        )
        no_reason = conn.scalar(
            text(
                "SELECT count(*) FROM submissions WHERE submitted_by = :key AND status = 'failed' "
                "AND coalesce(failure_reason, '') = ''"
            ),
            {"key": key_id},
        )
        reasons: dict[str, int] = dict(
            conn.execute(
                text(
                    "SELECT left(failure_reason, 120), count(*) FROM submissions WHERE submitted_by = :key "
                    "AND status = 'failed' GROUP BY 1"
                ),
                {"key": key_id},
            ).all()
        )
    return Outcome(
        sum(by_status.values()),
        {str(k): int(v) for k, v in by_status.items()},
        int(grade_rows or 0),
        int(graded or 0),
        int(duplicated or 0),
        int(no_reason or 0),
        {str(k): int(v) for k, v in reasons.items()},
    )


def key_id_of(settings: Settings, raw_key: str) -> int:
    from grader.keys.api_keys import hash_key

    with get_engine(settings.database_url).connect() as conn:
        return int(conn.scalar(text("SELECT id FROM api_keys WHERE key_hash = :h"), {"h": hash_key(raw_key)}))


def answers_csv(n: int, tag: str) -> bytes:
    from tests.support.sheets import csv_bytes

    rows: list[tuple[object, ...]] = [("candidate_id", "candidate_name", "candidate_email", "question_id", "answer")]
    rows += [
        (
            f"{tag}-{i // 12:04d}",
            f"候选人{tag}{i // 12}",
            f"{tag}.{i // 12}@example.com",
            f"q{i % 12 + 1:02d}",
            f"RLHF 基于人类反馈的强化学习；位置编码提供顺序信息；多头注意力从多个子空间建模。{tag} 第 {i} 份",
        )
        for i in range(n)
    ]
    return csv_bytes(rows)


def upload(client: Any, data: bytes, name: str = "answers.csv") -> Any:
    return client.post("/api/v1/batches", files={"file": (name, data)})


def wait_all_finished(settings: Settings, key_id: int, expected: int, timeout: float, stack: Stack) -> Outcome:
    state = outcome(settings, key_id)

    def done() -> bool:
        nonlocal state
        state = outcome(settings, key_id)
        return state.submitted >= expected and state.open == 0

    assert wait_until(done, timeout, interval=0.5), (state, stack.logs())
    return state


def redis_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    """A throwaway Redis of the test's own (never the shared one): no persistence, so a restart loses
    every queued message, the worst case for the broker."""
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(log),
        ],
        start_new_session=True,
    )
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    assert wait_until(lambda: _pings(client), 10), f"redis-server on port {port} did not start"
    return proc


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def now() -> float:
    return time.monotonic()
