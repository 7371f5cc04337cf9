import json
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from corrosion.api.exceptions import RequestTooLarge

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class MalformedJSON(ValueError):
    pass


def loads_json(body: bytes):
    """Decode a request body as JSON, or raise MalformedJSON.

    Refused as malformed: invalid UTF-8, NaN and Infinity (not JSON), nesting deep enough to
    exhaust the decoder (RecursionError), and lone UTF-16 surrogates ("\\ud800"), which JSON
    can spell but no database can store as text.
    """
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        # Only bodies that spell a surrogate escape pay for the check; a valid pair re-encodes fine.
        if _SURROGATE_ESCAPE.search(body):
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError, UnicodeError) as exc:
        raise MalformedJSON(str(exc)) from exc
    return data


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


class LimitedJSONParser(JSONParser):
    """JSON with the body size capped even without a Content-Length (chunked uploads)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.MAX_REQUEST_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestTooLarge()
        if not body:
            raise ParseError("The request body is empty; send a JSON document.")
        try:
            return loads_json(body)
        except MalformedJSON as exc:
            raise ParseError("The request body is not valid JSON.") from exc
