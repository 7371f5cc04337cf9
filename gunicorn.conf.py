"""gunicorn settings for production: `gunicorn corrosion.wsgi` reads this file from the working directory.

Threads suit this app: requests wait on PostgreSQL and Redis, not on the CPU. Every value can
be overridden from the environment.
"""

import json
import multiprocessing
import os

from gunicorn import util

from corrosion.api.errors import error_body
from corrosion.errors import ErrorCode

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
# One process per core plus one, each with a few threads (3 x 4 on the 2-core machines measured).
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# A request that takes longer than this is stuck; the worker is killed and replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
# Recycle workers now and then so a slow leak can never take a node down; jitter avoids all at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 20000))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", 2000))
# The app logs each request itself, as JSON with its request id; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The TLS proxy's address: only it may set X-Forwarded-Proto / X-Forwarded-For.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Import the app before forking, so workers share its memory and a broken config fails at start.
preload_app = True


# gunicorn refuses some requests itself, before Django sees them: a request line over 4094 bytes
# (414), headers too large (431), a malformed request line (400). Its page for those is HTML, and
# every error a client reads must be the contract's JSON body, so its one writer is replaced here.
def _write_json_error(sock, status_int, reason, mesg):
    code = ErrorCode.for_status(status_int)
    body = json.dumps(error_body(code, f"{reason}.")).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


util.write_error = _write_json_error
