from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from corrosion.integrity import register
        from hosts import (
            integrity,
            schema,  # noqa: F401  registers the bearer-key scheme with drf-spectacular
        )

        register(*integrity.CHECKS)
