from django.apps import AppConfig


class LicensingConfig(AppConfig):
    name = "licensing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from corrosion.integrity import register
        from licensing import integrity

        register(*integrity.CHECKS)
