import io
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "corrosion.settings")


def with_chunked_bodies_measured(app):
    """Django reads a request body only as far as its Content-Length, so a chunked body (it has
    none) would read as empty. Read at most MAX_REQUEST_BYTES + 1 bytes of it here, and hand Django
    a body with its length: a longer one then gets the 413 of any oversize body, the rest unread
    (the server's lingering close discards it; gunicorn.conf.py)."""

    def measured(environ, start_response):
        if not environ.get("CONTENT_LENGTH") and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read(settings.MAX_REQUEST_BYTES + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return app(environ, start_response)

    return measured


def with_routes(django):
    """settings.WSGI_ROUTES: a path's own WSGI callable in front of Django's handler, for the busiest
    endpoint (the plugin's heartbeat, licensing/plugin.py), called as route(environ,
    start_response, django) so it can hand Django any request it does not answer itself. Imported
    by name, as Django imports ROOT_URLCONF: the route lives in its app."""
    routes = {path: import_string(name) for path, name in settings.WSGI_ROUTES.items()}
    if not routes:
        return django

    def routed(environ, start_response):
        route = routes.get(environ.get("PATH_INFO"))
        if route is None:
            return django(environ, start_response)
        return route(environ, start_response, django)

    return routed


application = with_chunked_bodies_measured(with_routes(get_wsgi_application()))
