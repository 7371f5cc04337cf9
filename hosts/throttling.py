from django.conf import settings
from rest_framework.throttling import BaseThrottle

from corrosion.api.throttling import hit
from hosts.models import Host


class HostRateThrottle(BaseThrottle):
    """HOST_API_RATE_LIMIT per host, whichever of its keys it uses; counted in the shared cache."""

    def allow_request(self, request, view):
        if not isinstance(request.user, Host):
            return True  # the schema and docs pages: no host, nothing to count against
        allowed, self.retry_after = hit("host", request.user.pk, settings.HOST_API_RATE_LIMIT)
        return allowed

    def wait(self):
        return self.retry_after
