from django.apps import AppConfig


class PortalConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "portal"
    verbose_name = "Partner portal"

    def ready(self):
        from corrosion.integrity import register
        from portal import integrity

        register(*integrity.CHECKS)
