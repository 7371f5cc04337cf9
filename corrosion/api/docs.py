"""The API's reference page, /api/docs/: Redoc rendering the OpenAPI document.

Everything it loads comes from this server (no font CDN, no logo from Redoc's CDN), and it runs
no inline script, so the site's Content-Security-Policy holds on it too.
"""

from csp.constants import NONCE
from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView

# What Redoc needs beyond the site's policy, and why none of it admits an injected script:
# - style-src nonce: Redoc writes its styles into <style> elements; docs.js and Redoc stamp those
#   with the page's nonce, so no 'unsafe-inline' is needed;
# - img-src data: Redoc's own icons are inline SVG images (an image runs nothing);
# - worker-src blob: Redoc builds its search index in a worker made from its own bundle's code.
DOCS_POLICY = {"style-src": [NONCE], "img-src": ["data:"], "worker-src": ["blob:"]}


@method_decorator(csp_update(DOCS_POLICY), name="get")
class ApiDocsView(SpectacularRedocView):
    template_name = "api/docs.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response.data["options"] = spectacular_settings.REDOC_UI_SETTINGS or {}
        return response
