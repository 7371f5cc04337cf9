"""Staff see endpoints, deliveries and events read-only; the one action is sending a delivery again."""

from django.contrib import admin, messages

from audit.services import Actor
from corrosion.admin import SecretLookupsRefused
from events.models import Event, WebhookDelivery, WebhookEndpoint
from events.services import delivery_retry


class ReadOnlyAdmin(SecretLookupsRefused, admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "type", "host", "livemode", "created_at"]
    list_filter = ["type", "livemode"]
    list_select_related = ["host"]
    fields = ["public_id", "type", "host", "livemode", "created_at", "data"]
    readonly_fields = fields
    ordering = ["-created_at"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "host", "livemode", "enabled", "created_at"]
    list_filter = ["enabled", "livemode"]
    list_select_related = ["host"]
    # The secret is not among them: staff never see it either.
    fields = ["host", "url", "events", "description", "enabled", "livemode", "created_at", "updated_at"]
    readonly_fields = fields
    search_fields = ["url"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event", "endpoint", "state", "attempts", "last_status_code", "next_attempt_at", "created_at"]
    list_filter = ["state"]
    list_select_related = ["event", "endpoint"]
    fields = [
        "event",
        "endpoint",
        "state",
        "attempts",
        "last_status_code",
        "last_error",
        "response_excerpt",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["retry_now"]
    ordering = ["-created_at"]

    @admin.action(description="Send the selected deliveries again now", permissions=["view"])
    def retry_now(self, request, queryset):
        actor = Actor.staff(request.user)
        count = 0
        for delivery in queryset:
            delivery_retry(delivery=delivery, actor=actor)
            count += 1
        self.message_user(request, f"{count} deliveries will be sent again now.", messages.SUCCESS)
