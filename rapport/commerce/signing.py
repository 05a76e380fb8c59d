"""Signatures of shop webhook deliveries: HMAC-SHA256 over the timestamp and the raw body.

A shop sends

    X-Rapport-Signature: t=1767225600,v1=<hex HMAC-SHA256 of "1767225600." + body>

with the shop's secret as key. The timestamp is inside the signed text, so an attacker who
captured a delivery cannot re-send it later with a fresh time: deliveries older (or newer) than
the tolerance are refused. Within the tolerance a replay is harmless because orders are
idempotent by the shop's order id.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Rapport-Signature"
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The delivery cannot be trusted; the message says why (safe to show the sender)."""


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header value a shop sends with `body` (also what the tests and docs use)."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a delivery's signature header; return its timestamp or raise SignatureError."""
    if not header:
        raise SignatureError(f"The {SIGNATURE_HEADER} header is missing.")
    if len(header) > 1000:
        raise SignatureError("The signature header is too long.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError, IndexError) as exc:
        raise SignatureError("The signature header has no valid timestamp (t=...).") from exc
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            f"The delivery timestamp is more than {tolerance} seconds away from now."
        )
    expected = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    # Several v1 values let a shop sign with the old and the new secret while rotating.
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureError("The signature does not match the body.")
    return timestamp
