"""The queue port: how use cases hand committed work to whatever grades it.

Use cases depend on `Queue` only. `grader.queue.celery_queue.CeleryQueue` sends messages to Celery
workers through Redis; `grader.queue.embedded.EmbeddedQueue` grades in a thread of the API process.
`QueueBackend` adds what the app needs from the one it builds at startup (`grader.queue.build`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol


class Queue(Protocol):
    def enqueue(self, submission_id: uuid.UUID) -> None:
        """Grade one committed submission (interactive: taken before any batch chunk)."""
        ...

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        """Grade a chunk of committed submissions together, behind interactive ones: a batch's, or a
        bank re-grade's (`batch_id` then only names the request in the logs)."""
        ...


class QueueBackend(Queue, Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def depths(self) -> dict[str, int]:
        """Jobs waiting, per queue name (for /metrics)."""
        ...

    def check(self) -> tuple[bool, str]:
        """Whether work can be queued now, and a line saying why (for /readyz)."""
        ...
