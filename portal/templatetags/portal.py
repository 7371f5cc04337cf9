from datetime import UTC

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

register = template.Library()


@register.filter
def ago(moment):
    """'3 minutes ago' in the page, the exact UTC time on hover (and for machines, in datetime=)."""
    if moment is None:
        return "never"
    exact = moment.astimezone(UTC)
    now = timezone.now()
    if abs((now - moment).total_seconds()) < 60:
        words = "just now"
    else:
        past = moment <= now
        words = f"{timesince(moment, now).split(',')[0]} ago" if past else f"in {timeuntil(moment, now).split(',')[0]}"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', exact.isoformat(), exact.strftime("%Y-%m-%d %H:%M:%S UTC"), words
    )
