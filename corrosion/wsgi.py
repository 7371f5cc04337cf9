import io
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

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


application = with_chunked_bodies_measured(get_wsgi_application())
