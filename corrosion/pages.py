"""The site's few pages of its own: the front page that points people to the right door, and the favicon."""

from functools import cache

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

FAVICON = settings.BASE_DIR / "static" / "favicon.ico"


class HomeView(TemplateView):
    """Server-rendered, no script: the admin for staff, the portal for partners, the API docs for developers."""

    template_name = "home.html"
    http_method_names = ["get", "head"]


@cache
def _favicon_bytes():
    return FAVICON.read_bytes()


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request):
    # Browsers ask for /favicon.ico whatever the page links; answering it keeps 404s out of the logs.
    return HttpResponse(_favicon_bytes(), content_type="image/x-icon")
