"""`manage.py worker`: procrastinate's worker on PostgreSQL; on SQLite (the demo) the same jobs in-process.

On PostgreSQL any number of workers on any number of machines share the jobs, and each periodic
job is deferred once per tick whichever workers run (procrastinate's own guarantee). SQLite has no
task engine: one in-process loop polls the deliveries table every second and runs the periodic
jobs each minute. The contract allows it for the demo; production and CI run the real engine.
"""

import logging
import signal
import threading
import time

from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def run(*, concurrency, stop=None):
    if connection.vendor == "postgresql":
        _run_procrastinate(concurrency=concurrency)
    else:
        stop = stop or threading.Event()
        # `make run` stops the worker with SIGTERM: finish the current attempt, then leave.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        run_in_process(stop=stop)


def _run_procrastinate(*, concurrency):
    from procrastinate.contrib.django import app

    with app.replace_connector(app.connector.get_worker_connector()):
        app.run_worker(concurrency=concurrency, install_signal_handlers=True)


def _periodic_jobs():
    from procrastinate.contrib.django import app

    return [periodic.task.func for periodic in app.periodic_registry.periodic_tasks.values()]


def run_in_process(*, stop, poll_seconds=POLL_SECONDS):
    """The demo's worker: due deliveries every second, every periodic job each minute."""
    from events import services

    last_minute = None
    while not stop.is_set():
        if not connection.in_atomic_block:  # (a test's transaction) a long-lived loop drops stale connections
            close_old_connections()
        try:
            minute = int(time.time() // 60)
            if minute != last_minute:
                last_minute = minute
                for job in _periodic_jobs():
                    job(minute * 60)
            for delivery_id in services.deliveries_due().order_by("created_at").values_list("pk", flat=True)[:100]:
                services.delivery_attempt(delivery_id=delivery_id)
        except Exception:
            logger.exception("worker loop failed; trying again")
        stop.wait(poll_seconds)
