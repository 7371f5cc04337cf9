"""gunicorn settings for production: `gunicorn corrosion.wsgi` reads this file from the working directory.

Threads suit this app: requests wait on PostgreSQL and Redis, not on the CPU. Every value can
be overridden from the environment.
"""

import json
import multiprocessing
import os
import ssl

from django.conf import settings
from gunicorn import util

from corrosion.api.errors import error_body
from corrosion.lingering import lingerer

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
_GUNICORN_ERROR_CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 431: "headers_too_large"}


def _write_json_error(sock, status_int, reason, mesg):
    code = _GUNICORN_ERROR_CODES.get(status_int, "bad_request" if status_int < 500 else "server_error")
    body = json.dumps(error_body(code, f"{reason}.")).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


util.write_error = _write_json_error


# A request whose body was not read to its end (the app refused it unread: 413) leaves the
# connection unusable, and closing it with the body still arriving would reset it under the
# client's feet, 413 and all. gunicorn closes such connections through close_graceful (a drain of
# 64 KB, in the calling thread); the lingering close drains in the background instead, within
# bounds (corrosion/lingering.py). TLS sockets, if gunicorn ever terminates TLS, keep gunicorn's.
_close_graceful = util.close_graceful


def _lingering_close(sock, *args, **kwargs):
    if isinstance(sock, ssl.SSLSocket):
        return _close_graceful(sock, *args, **kwargs)
    return lingerer.close(sock)


util.close_graceful = _lingering_close


def pre_request(worker, req):
    """A body declared over MAX_REQUEST_BYTES is refused unread: answer it with Connection: close
    and close at once, without gunicorn's keep-alive drain in the request thread first."""
    length = next((value for name, value in req.headers if name == "CONTENT-LENGTH"), "")
    if length.isdigit() and int(length) > settings.MAX_REQUEST_BYTES:
        req.force_close()
