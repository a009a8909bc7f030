"""Webhooks: admins register receivers; grading and reviews raise events into an outbox in their own
transaction; the webhooks queue signs and sends them, retrying for days. See `docs/webhooks.md`."""
