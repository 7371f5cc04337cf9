from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from hosts import schema  # noqa: F401  registers the bearer-key scheme with drf-spectacular
