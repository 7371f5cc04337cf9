"""GET /api/host/billing/{YYYY-MM}.csv: the bill's CSV on a path of its own, the one the document describes."""

import csv
import io

import pytest

from tests.billing.helpers import at
from tests.factories import HostLicenseFactory

pytestmark = pytest.mark.django_db

# The current month (June 2026, frozen): open, and after the host's creation whatever the rules on old months.
JUNE = "2026-06"


@pytest.fixture
def june_servers(frozen, host):
    return [
        HostLicenseFactory(host=host, server_identifier=f"rust-{n}", provisioned_at=at(2026, 6, 2)) for n in range(2)
    ]


def rows(response):
    assert response.streaming is True
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_path_answers_the_bill_as_a_csv_attachment(june_servers, host_client):
    response = host_client.get(f"/api/host/billing/{JUNE}.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="corrosion-billing-{JUNE}.csv"'
    header, *lines = rows(response)
    assert header[:2] == ["month", "server_id"]
    assert sorted(line[1] for line in lines) == ["rust-0", "rust-1"]


def test_the_csv_path_the_format_parameter_and_the_accept_header_answer_the_same_csv(june_servers, host_client):
    by_path = rows(host_client.get(f"/api/host/billing/{JUNE}.csv"))
    assert rows(host_client.get(f"/api/host/billing/{JUNE}?format=csv")) == by_path
    assert rows(host_client.get(f"/api/host/billing/{JUNE}", HTTP_ACCEPT="text/csv")) == by_path
    # Any client's default Accept gets the CSV on its own path.
    assert rows(host_client.get(f"/api/host/billing/{JUNE}.csv", HTTP_ACCEPT="*/*")) == by_path


def test_the_json_path_still_answers_json_by_default(june_servers, host_client):
    response = host_client.get(f"/api/host/billing/{JUNE}")
    assert response["Content-Type"] == "application/json"
    assert response.json()["active_license_count"] == 2


@pytest.mark.parametrize(
    ("month", "status"),
    [("2026-13", 400), ("2026-07", 400), ("june", 400)],
)
def test_a_bad_month_on_the_csv_path_is_a_json_error(frozen, host_client, month, status):
    response = host_client.get(f"/api/host/billing/{month}.csv")
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert list(response.json()["error"]["fields"]) == ["month"]


def test_the_csv_path_without_a_key_is_401_json(frozen, anon_client):
    response = anon_client.get(f"/api/host/billing/{JUNE}.csv")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "asked", [{"HTTP_ACCEPT": "application/json"}, {"data": {"format": "json"}}], ids=["accept", "format"]
)
def test_the_csv_path_has_no_json_representation(frozen, host_client, asked):
    response = host_client.get(f"/api/host/billing/{JUNE}.csv", **asked)
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_acceptable"
