from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from billing import checks, integrity  # noqa: F401  checks registers the system checks
        from billing.events import invoice_attachments
        from corrosion.integrity import register
        from events.mail import register_invoice_attachments

        register(*integrity.CHECKS)
        register_invoice_attachments(invoice_attachments)
