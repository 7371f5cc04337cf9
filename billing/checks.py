"""System checks of the billing settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Info, Tags, register


@register(Tags.compatibility, deploy=True)
def invoice_issuer_configured(app_configs, **kwargs):
    # A reminder, not a warning: invoices are valid without it, but they name only "Corrosion".
    if settings.DEBUG or settings.INVOICE_ISSUER:
        return []
    return [
        Info(
            'INVOICE_ISSUER is not set: invoices will name the issuer as "Corrosion", with no address.',
            hint='Set INVOICE_ISSUER to the name and address lines, separated by "|".',
            id="billing.I001",
        )
    ]
