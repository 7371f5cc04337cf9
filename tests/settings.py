"""The test suite's settings: production's own (DEBUG off), plus the few values a laptop lacks.

pytest reads this (pyproject.toml), so a plain `pytest` works in a fresh checkout. Anything set in
the environment wins: CI points DATABASE_URL and CACHE_URL at PostgreSQL and Redis.
"""

import os

for name, value in {
    "DEBUG": "0",
    "SECRET_KEY": "test-only-secret-key-not-for-production-0123456789abcdef",
    "SECURE_SSL_REDIRECT": "0",
    "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
}.items():
    os.environ.setdefault(name, value)

from corrosion.settings import *  # noqa: E402, F403

# Staff and partner users are created with real passwords in many tests; the production hasher is
# deliberately slow (about a second per password on a busy machine), which tests do not need.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
