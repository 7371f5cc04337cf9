"""The worker's jobs on procrastinate (found by its Django autodiscovery of `tasks` modules).

Jobs only trigger work: the deliveries table says what is due, so a lost, duplicated or late job
costs at most one wasted look, never a lost or doubled delivery.
"""

from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from events import mail, services

# Every delivery attempt is one job; `retry=False`: the delivery's own schedule retries, not the engine.
DELIVERY_QUEUE = "webhooks"


@app.task(name="events.deliver", queue=DELIVERY_QUEUE, pass_context=False)
def deliver(delivery_id):
    services.delivery_attempt(delivery_id=delivery_id)


# Each minute, on one worker only (procrastinate defers a periodic job once per tick, whoever
# runs it): trigger retries that are due and deliveries a dead worker left behind.
@app.periodic(cron="* * * * *", periodic_id="requeue")
@app.task(name="events.requeue_deliveries", queue="periodic", pass_context=False)
def requeue_deliveries(timestamp):
    services.deliveries_requeue()


# Retried by the engine at growing intervals (5 s, 25 s, 2 min, 10 min, 52 min, 4 h, 22 h): about a day.
@app.task(
    name="events.email_invoice",
    queue="email",
    retry=RetryStrategy(max_attempts=8, exponential_wait=5),
    pass_context=False,
)
def email_invoice(event_id):
    mail.invoice_email_send(event_id=event_id)
