"""Stripe-style signatures: `Corrosion-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def generate_secret():
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret, timestamp, body):
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_, timestamp, body):
    """One v1 per secret: the current one, and during a rotation's overlap the previous one too."""
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets_)])


def verify(secret, header, body, *, now, tolerance=300):
    """What a receiver does (the README shows it): a v1 matches and the timestamp is recent."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in parts if key == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or abs(now - int(timestamps[0])) > tolerance:
        return False
    expected = signature(secret, timestamps[0], body)
    return any(key == "v1" and hmac.compare_digest(value, expected) for key, value in parts)
