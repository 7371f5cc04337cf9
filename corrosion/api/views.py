"""Views that belong to no app: health checks and Django's own error pages, as JSON; the API views' base."""

import sys

from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import JsonResponse
from django.utils.cache import patch_cache_control
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from rest_framework.exceptions import NotAcceptable
from rest_framework.views import APIView

from corrosion.api.errors import database_unavailable_response, error_response
from corrosion.errors import ErrorCode


@require_GET
def healthz(request):
    """The process is up; touches nothing else so a load balancer can poll it cheaply."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request):
    """Ready when the database answers. The cache is reported but not required: without it the rate
    limits lapse (and the logs say so), whereas failing readiness would take every node out at once."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return error_response(
            ErrorCode.DATABASE_UNAVAILABLE, "The database does not answer.", headers={"Retry-After": "5"}
        )
    try:
        cache.set("readyz", "ok", 5)
        cache_state = "ok" if cache.get("readyz") == "ok" else "unavailable"
    except Exception:  # each cache backend raises its own connection errors
        cache_state = "unavailable"
    return JsonResponse({"status": "ok", "database": "ok", "cache": cache_state})


def bad_request(request, exception=None):
    return error_response(ErrorCode.BAD_REQUEST, "The request could not be understood.")


def permission_denied(request, exception=None):
    return error_response(ErrorCode.FORBIDDEN, "You do not have permission to do this.")


def not_found(request, exception=None):
    return error_response(ErrorCode.NOT_FOUND, "Not found.")


def server_error(request):
    # Django's last stop for any exception nothing else handled, raised in a view or in a
    # middleware (a session read or saved around the view): Django calls this inside its
    # `except`, so the exception is at hand. A lost database is still a 503 to retry, not a bug.
    if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        return database_unavailable_response()
    return error_response(ErrorCode.SERVER_ERROR, "An unexpected error happened; it has been logged.")


@csrf_exempt
def csrf_failure(request, reason=""):
    # The API is JSON everywhere; the pages people use (the admin, the portal) answer with a page.
    if request.path.startswith(("/admin/", "/portal/")):
        return django_csrf_failure(request, reason)
    return error_response(ErrorCode.CSRF_FAILED, "CSRF verification failed.")


class ApiView(APIView):
    """The base of every host API view: who is calling is settled before what they asked for.

    DRF negotiates the representation before it authenticates, so a request with no key and an
    unknown `?format=` got 406, not the 401 every keyless request gets (found by fuzzing). The
    negotiation's refusal now waits until authentication, permissions and throttles have passed.
    """

    # Set on views whose answers carry secrets (license keys, companion tokens, API keys, webhook
    # secrets): every answer then says `Cache-Control: no-store`, so no proxy or browser keeps one.
    carries_secrets = False

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.carries_secrets:
            patch_cache_control(response, no_store=True)
        return response

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except NotAcceptable as exc:
            self.not_acceptable = exc
            return super().perform_content_negotiation(request, force=True)

    def initial(self, request, *args, **kwargs):
        self.not_acceptable = None
        super().initial(request, *args, **kwargs)
        # A method the view does not have is a 405 whatever it asked for (found by fuzzing: TRACE got 406).
        method = request.method.lower()
        if self.not_acceptable is not None and method in self.http_method_names and hasattr(self, method):
            raise self.not_acceptable
