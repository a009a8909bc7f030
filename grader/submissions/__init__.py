"""Submissions: accepting an answer (validation, idempotency), reading submissions back, and
`/api/v1/submissions`."""
