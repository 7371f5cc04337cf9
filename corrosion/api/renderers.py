"""CSV for downloads: a renderer for content negotiation, and a streamed response.

Bills can hold thousands of lines, so a view streams them (`csv_response`) rather than building
the body in memory; the renderer is what lets `?format=csv` and `Accept: text/csv` select CSV.
"""

import csv
from datetime import UTC, datetime
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse
from rest_framework import renderers

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


# A spreadsheet reads a cell that starts with one of these as a formula (CSV injection, OWASP):
# "=HYPERLINK(...)" in a hostname would be live in finance's copy of the bill. Tab and carriage
# return are on OWASP's list too, as some spreadsheets skip them before looking.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """One value as the JSON API would write it: ISO 8601 UTC times ending in Z, decimals as written.

    Text that a spreadsheet would run as a formula gets a leading single quote, so it is read as
    text and never run. Numbers are never text here, so a "-1.00" stays a number.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
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


PDF_CONTENT_TYPE = "application/pdf"


class PDFRenderer(renderers.BaseRenderer):
    """Lets `?format=pdf` and `Accept: application/pdf` select a PDF; views answer `pdf_response`."""

    media_type = PDF_CONTENT_TYPE
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else b""


def pdf_response(content: bytes, *, filename):
    response = HttpResponse(content, content_type=PDF_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
