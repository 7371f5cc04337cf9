"""gunicorn settings for production: `gunicorn corrosion.wsgi` reads this file from the working directory.

Threads suit this app: requests wait on PostgreSQL and Redis, not on the CPU. Every value can
be overridden from the environment.
"""

import json
import multiprocessing
import os
import ssl

from django.conf import settings
from gunicorn import glogging, util

from corrosion.api.errors import error_body
from corrosion.errors import ErrorCode
from corrosion.lingering import lingerer
from corrosion.logging import request_id_var, use_json_format

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "corrosion.settings")

# The loopback address only: with CLIENT_IP_HEADER set, whoever reaches gunicorn directly sets
# their own client address and escapes every per-address limit, so only the proxy in front may
# reach it. Set GUNICORN_BIND (e.g. 10.0.0.7:8000) where the proxy runs on another machine, and
# let a firewall admit the proxy alone (README, Deploy).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
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
# The app logs each request itself, as JSON with its request id; gunicorn's access log would repeat
# it, so it is off unless GUNICORN_ACCESSLOG names a file ("-" for stdout).
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
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


class JsonLogger(glogging.Logger):
    """gunicorn's error and access lines as the app writes its own: JSON on stdout, secrets cut.

    gunicorn logs a request it refuses by quoting it (a header without its colon, a request line
    with a control character), keys included; its access line holds the query string and Referer.
    """

    def setup(self, cfg):
        super().setup(cfg)
        use_json_format(self.error_log, self.access_log)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        # The app's X-Request-ID, so the access line joins the app's lines of the same request.
        request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), "-")
        token = request_id_var.set(request_id)
        try:
            super().access(resp, req, environ, request_time)
        finally:
            request_id_var.reset(token)


logger_class = JsonLogger


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
