"""The Celery backend of the queue port: messages to `grader worker` processes through Redis.

Submissions go on the interactive queue (`GRADER_CELERY_QUEUE`), batch chunks on `<queue>.batch`; a
worker polls the interactive one first. The request id travels with every message, so the worker's log
lines name the request that queued the work.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence

import redis
from celery import Celery

from grader.queue.celery_app import BATCH_CHUNK_TASK, GRADE_TASK, batch_queue, configure, request_headers
from grader.settings import Settings


class CeleryQueue:
    def __init__(self, celery: Celery, settings: Settings) -> None:
        if settings.redis_url is None:
            raise ValueError("the Celery queue needs GRADER_REDIS_URL; without it the API grades in-process")
        self._celery = celery
        self._redis_url = settings.redis_url
        self._queues = [settings.celery_queue, batch_queue(settings)]
        self._batch_queue = batch_queue(settings)
        self._client: redis.Redis | None = None  # for depths(); the sweep tasks' queues never read them

    @classmethod
    def for_api(cls, settings: Settings) -> CeleryQueue:
        """The API process's own Celery app, configured like the workers' (it only sends)."""
        return cls(configure(Celery("grader-api"), settings), settings)

    def enqueue(self, submission_id: uuid.UUID) -> None:
        self._celery.send_task(GRADE_TASK, args=[str(submission_id)], headers=request_headers())

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        self._celery.send_task(
            BATCH_CHUNK_TASK,
            args=[str(batch_id), [str(s) for s in submission_ids]],
            queue=self._batch_queue,
            headers=request_headers(),
        )

    def waiting_submissions(self, limit: int) -> list[uuid.UUID]:
        """The submissions whose messages wait on the interactive queue, oldest first, at most `limit`:
        read, not consumed."""
        return [sid for sid, _raw in self.waiting_messages(limit)]

    def waiting_messages(self, limit: int) -> list[tuple[uuid.UUID, str]]:
        """`waiting_submissions` with each one's raw message, for `take` (`grader.grading.gather`). Kombu
        LPUSHes and its workers BRPOP, so the oldest are at the list's right end. A message sent without a
        priority (as `enqueue` sends them) waits on the list named after the queue itself, the one read here."""
        if limit <= 0:
            return []
        out: list[tuple[uuid.UUID, str]] = []
        for raw in reversed(self._redis().lrange(self._queues[0], -limit, -1)):
            try:
                message = json.loads(raw)
                if message.get("headers", {}).get("task") != GRADE_TASK:
                    continue
                body = message["body"]
                if message.get("properties", {}).get("body_encoding") == "base64":
                    body = base64.b64decode(body)
                # As text (a message is JSON, so UTF-8): `take` sends it back byte for byte.
                out.append((uuid.UUID(json.loads(body)[0][0]), raw.decode() if isinstance(raw, bytes) else raw))
            except (ValueError, KeyError, IndexError, TypeError):
                continue  # not a message this code wrote: its own task grades it
        return out

    def take(self, raws: Sequence[str]) -> int:
        """Remove these messages (exactly as `waiting_messages` read them) from the interactive queue, so
        they are never delivered; returns how many were still there. One a worker took meanwhile is not
        there any more, and is left to it. Call it only once the answers they carry are claimed (their
        lease committed): if this worker then dies, the lease runs out and the sweep enqueues them again."""
        if not raws:
            return 0
        pipe = self._redis().pipeline(transaction=False)
        for raw in raws:
            pipe.lrem(self._queues[0], -1, raw)  # from the right end, where the oldest wait
        return sum(int(n) for n in pipe.execute())

    def _redis(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self._redis_url, socket_timeout=1, socket_connect_timeout=1)
        return self._client

    def depths(self) -> dict[str, int]:
        """Messages waiting on each queue: the Redis list length."""
        pipe = self._redis().pipeline(transaction=False)
        for name in self._queues:
            pipe.llen(name)
        return dict(zip(self._queues, (int(n) for n in pipe.execute()), strict=True))

    def check(self) -> tuple[bool, str]:
        try:
            redis.Redis.from_url(self._redis_url, socket_timeout=2, socket_connect_timeout=2).ping()
            return True, "redis reachable"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"[:300]

    def start(self) -> None:
        """Nothing to start: workers are processes of their own."""

    def stop(self) -> None:
        """Nothing to stop."""
