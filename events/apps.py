from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from corrosion.integrity import register
        from events import checks, integrity  # noqa: F401  checks registers the deploy reminders

        register(*integrity.CHECKS)
