from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from billing import checks, integrity  # noqa: F401  checks registers the system checks
        from corrosion.integrity import register

        register(*integrity.CHECKS)
