"""CSV cells: written as the JSON API writes values, and never a live spreadsheet formula."""

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from corrosion.api.renderers import csv_cell


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        '=HYPERLINK("https://evil.example", "click")',
        "+cmd@example.test",
        "-2+3",
        "@SUM(A1:A9)",
        "=cmd|' /C calc'!A0",
        "\tTAB=1",
        "\r=1",
    ],
)
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["play.acme.test", "rust-nyc-01", "a=b", "ops+billing@acme.test", "Сервер 🦀", ""])
def test_other_text_is_written_as_it_is(text):
    assert csv_cell(text) == text


def test_numbers_times_and_ids_are_never_quoted():
    assert csv_cell(Decimal("-1.50")) == "-1.50"
    assert csv_cell(Decimal("6.00")) == "6.00"
    assert csv_cell(3) == "3"
    assert csv_cell(datetime(2026, 5, 2, tzinfo=UTC)) == "2026-05-02T00:00:00Z"
    assert csv_cell(UUID(int=0)) == "00000000-0000-0000-0000-000000000000"
    assert csv_cell(None) == ""
