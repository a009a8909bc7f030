"""How a delivery is signed, and how a receiver checks it (the same function, so the docs cannot drift).

    Grader-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The timestamp is inside the signed text, so a captured request cannot be replayed later with a new one;
receivers should refuse a `t` more than a few minutes old and drop events whose `Grader-Event-Id` they
have already processed (retries and replays send the same id).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Grader-Signature"
EVENT_ID_HEADER = "Grader-Event-Id"
EVENT_TYPE_HEADER = "Grader-Event"
DELIVERY_HEADER = "Grader-Delivery"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within `tolerance` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)
