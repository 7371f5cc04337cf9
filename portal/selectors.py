from portal.models import Membership


def membership_for_user(user):
    """The user's membership with its host, or None (anonymous, staff, a customer, a removed member)."""
    if not user.is_authenticated or user.is_staff or user.is_superuser:
        return None
    return Membership.objects.select_related("host").filter(user=user).first()


def memberships_for_host(*, host):
    return Membership.objects.filter(host=host).select_related("user").order_by("created_at")
