"""Offline detection, a periodic job of the worker (procrastinate autodiscovers `tasks` modules).

It costs the heartbeat nothing: a heartbeat only writes last_seen_at (a HOT update, no index on
it), and once a minute this job compares last_seen_at with what it announced before.
"""

from procrastinate.contrib.django import app

from licensing.offline import outages_announce


@app.periodic(cron="* * * * *", periodic_id="offline")
@app.task(name="licensing.detect_offline", queue="periodic", pass_context=False)
def detect_offline(timestamp):
    outages_announce()
