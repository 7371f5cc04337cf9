"""`check --deploy` reminders (INFO, so the deploy check stays clean) for what e-mails need."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def email_settings(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    reminders = []
    if not settings.PUBLIC_BASE_URL:
        reminders.append(checks.Info("PUBLIC_BASE_URL is not set: e-mails carry no absolute links.", id="events.I001"))
    if not settings.EMAIL_URL:
        reminders.append(
            checks.Info("EMAIL_URL is not set: e-mails (invoices) are printed, not sent.", id="events.I002")
        )
    return reminders
