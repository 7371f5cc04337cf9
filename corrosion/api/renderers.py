"""CSV for downloads: a renderer for content negotiation, and a streamed response.

Bills can hold thousands of lines, so a view streams them (`csv_response`) rather than building
the body in memory; the renderer is what lets `?format=csv` and `Accept: text/csv` select CSV.
"""

import csv
from datetime import UTC, datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from rest_framework import renderers

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def csv_cell(value):
    """One value as the JSON API would write it: ISO 8601 UTC times ending in Z, decimals as written."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value):
        return value


def csv_lines(rows):
    """Each row (header first) as one CSV line, lazily: memory stays constant however many rows."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def csv_response(rows, *, filename):
    response = StreamingHttpResponse(csv_lines(rows), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CSVRenderer(renderers.BaseRenderer):
    """Renders rows (a header row first); views with large bodies stream with `csv_response` instead."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return "".join(csv_lines(data)).encode(self.charset)
