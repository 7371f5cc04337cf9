"""The worker's throughput: deliveries per second from real `manage.py worker` processes to a local receiver."""

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.db import transaction

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class WebhookResult:
    deliveries: int
    seconds: float
    workers: int
    concurrency: int


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def deliveries_per_second(*, events=2000, workers=2, concurrency=8):
    """Record `events` events for one endpoint, then time real workers delivering them all."""
    from audit.services import Actor
    from events import services
    from events.models import WebhookDelivery
    from hosts.models import Host

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "WEBHOOK_ALLOW_HTTP": "1", "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1"}
    processes = []
    try:
        from django.test import override_settings

        with override_settings(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE_NETWORKS=True):
            host = Host.objects.order_by("created_at").first()
            endpoint = services.endpoint_create(
                host=host,
                url=f"http://127.0.0.1:{server.server_address[1]}/hooks",
                events=["*"],
                livemode=True,
                actor=Actor.command("bench"),
            )
        with transaction.atomic():
            services.events_record(
                type="license.updated", items=[(host.pk, {"n": n}) for n in range(events)], livemode=True
            )
        started = time.perf_counter()
        for _ in range(workers):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "worker", "--concurrency", str(concurrency)],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        pending = WebhookDelivery.objects.filter(endpoint=endpoint).exclude(state="delivered")
        deadline = time.monotonic() + 600
        while pending.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        seconds = time.perf_counter() - started  # includes the workers' start (about a second)
        return WebhookResult(deliveries=events, seconds=seconds, workers=workers, concurrency=concurrency)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        server.shutdown()
        server.server_close()
