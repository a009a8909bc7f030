"""The grading queue: one port (`port.Queue`) with a Celery backend and an embedded (in-process thread)
backend. The only package that imports Celery, kombu or Redis-for-the-queue."""
