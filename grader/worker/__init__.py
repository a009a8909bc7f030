"""Background grading: the Celery worker and beat (with Redis), or a thread in the API (embedded)."""
