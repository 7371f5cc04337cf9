import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver:
    """A real HTTP receiver in a thread: records each request; answers from a script of statuses
    (the last one repeats), or holds a request until released."""

    def __init__(self):
        self.requests = []
        self.statuses = [200]
        self.hold = None  # a threading.Event: requests wait for it before answering
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.arrived:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                    index = len(receiver.requests) - 1
                    receiver.arrived.notify_all()
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                answer = b"ok " * 1000
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self):
        return [json.loads(request["body"]) for request in self.requests]

    def wait_for(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.requests)} requests arrived, {count} expected")
                self.arrived.wait(left)
        return self.requests


@pytest.fixture
def receiver():
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    if receiver.hold is not None:
        receiver.hold.set()
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def local_webhooks(settings):
    """The tests' receivers listen on 127.0.0.1 over plain http, as the demo's may."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    return settings


@pytest.fixture
def fake_dns(monkeypatch):
    """Names resolve without a network: example.com to a public address, others as given in the dict."""
    import socket

    names = {"example.com": "93.184.215.14", "localhost": "127.0.0.1"}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr("events.addresses.socket.getaddrinfo", getaddrinfo)
    return names
