import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from corrosion.api.exceptions import RequestTooLarge


class LimitedJSONParser(JSONParser):
    """JSON with the body size capped even without a Content-Length (chunked uploads).

    Deeply nested JSON makes the decoder recurse until RecursionError; that is a client's bad
    input, answered 400 like any malformed JSON, never a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.MAX_REQUEST_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLarge()
        if not body:
            raise ParseError("The request body is empty; send a JSON document.")
        try:
            return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError("The request body is not valid JSON.") from exc


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")
