"""The ceiling of `make bench`: a WSGI app that answers `{}` and does nothing else.

Served by the same gunicorn, configuration and load as the app, in the same run, so its figures
are what this machine's app server can do at all: the app's rows are read as ratios to it.
"""

_BODY = b"{}"
_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(_BODY)))]


def application(environ, start_response):
    body = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length and length.isdigit():
        body.read(int(length))  # as any app does, so the connection stays usable
    start_response("200 OK", _HEADERS)
    return [_BODY]
