"""The host API for invoices: list, one invoice as JSON, and its PDF, read back with pypdf."""

import io
from datetime import date

import pytest
import time_machine
from pypdf import PdfReader
from rest_framework.test import APIClient

from audit.services import Actor
from billing.models import Invoice
from billing.services import invoice_mark_paid, invoice_void, month_close
from hosts.services import api_key_issue
from tests.billing.helpers import at
from tests.factories import HostLicenseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

ACTOR = Actor.command("tests")


def servers(host, count, *, month=3):
    return [
        HostLicenseFactory(host=host, server_identifier=f"rust-{n:03d}", provisioned_at=at(2026, month, 2))
        for n in range(count)
    ]


def close(*months):
    # Each month closed a minute after the one before, as closes are: newest first is then clear.
    for month in months:
        with time_machine.travel(at(2026, 6, 10, 11, month), tick=False):
            month_close(month=date(2026, month, 1), actor=ACTOR)


def pdf_text(content):
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def invoiced(host):
    servers(host, 3)
    close(3, 4, 5)
    return list(Invoice.objects.filter(host=host).order_by("sequence"))


def test_the_list_shows_the_hosts_invoices_newest_first(host_client, invoiced, frozen):
    response = host_client.get("/api/host/invoices")
    assert response.status_code == 200
    body = response.json()
    assert [item["number"] for item in body["results"]] == ["INV-2026-00003", "INV-2026-00002", "INV-2026-00001"]
    assert body["results"][0] == {
        "number": "INV-2026-00003",
        "billing_month": "2026-05",
        "issued_at": "2026-06-10T11:05:00Z",
        "due_date": "2026-07-10",
        "currency": "USD",
        "active_license_count": 3,
        "wholesale_rate_usd": "6.00",
        "total_amount_usd": "18.00",
        "status": "open",
        "overdue": False,
        "paid_at": None,
        "payment_reference": "",
        "issuer": {"name": "Corrosion", "address": []},
        "buyer": {
            "company_name": "Acme Hosting",
            "contact_email": "ops@acme.test",
            "billing_address": [],
            "tax_id": "",
        },
    }
    assert body["next"] is None


def test_the_list_pages_and_filters_by_status(host_client, invoiced):
    invoice_mark_paid(invoice=invoiced[0], paid_at=date(2026, 6, 10), payment_reference="W-1", actor=ACTOR)
    invoice_void(invoice=invoiced[1], reason="wrong rate", actor=ACTOR)
    first = host_client.get("/api/host/invoices?page_size=2").json()
    second = host_client.get(first["next"]).json()
    assert [i["number"] for i in first["results"] + second["results"]] == [
        "INV-2026-00003",
        "INV-2026-00002",
        "INV-2026-00001",
    ]
    for status, numbers in (("open", ["INV-2026-00003"]), ("paid", ["INV-2026-00001"]), ("void", ["INV-2026-00002"])):
        body = host_client.get(f"/api/host/invoices?status={status}").json()
        assert [i["number"] for i in body["results"]] == numbers
    paid = host_client.get("/api/host/invoices?status=paid").json()["results"][0]
    assert (paid["paid_at"], paid["payment_reference"]) == ("2026-06-10", "W-1")


@pytest.mark.parametrize("query", ["status=late", "stauts=open", "page_size=0", "cursor=forged"])
def test_the_list_refuses_what_it_does_not_take(host_client, invoiced, query):
    response = host_client.get(f"/api/host/invoices?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_the_list_has_no_pdf(host_client, invoiced):
    assert host_client.get("/api/host/invoices?format=pdf").status_code == 406


def test_the_list_query_count_does_not_grow_with_invoices(host, host_client, django_assert_max_num_queries):
    servers(host, 2)
    close(3)
    with django_assert_max_num_queries(3):  # the key (and its last use), then one page of invoices
        assert len(host_client.get("/api/host/invoices").json()["results"]) == 1
    close(4, 5)
    with django_assert_max_num_queries(3):
        assert len(host_client.get("/api/host/invoices").json()["results"]) == 3


def test_one_invoice_has_its_lines(host_client, invoiced):
    response = host_client.get("/api/host/invoices/INV-2026-00002")
    assert response.status_code == 200
    body = response.json()
    assert (body["number"], body["billing_month"], body["total_amount_usd"]) == ("INV-2026-00002", "2026-04", "18.00")
    assert [line["server_id"] for line in body["lines"]] == ["rust-000", "rust-001", "rust-002"]
    assert response["Cache-Control"] == "no-store"  # the lines carry license keys


def test_each_bill_shows_its_invoice_number(host_client, invoiced):
    assert host_client.get("/api/host/billing/2026-04").json()["invoice"] == "INV-2026-00002"
    listed = host_client.get("/api/host/billing").json()["results"]
    assert {item["month"]: item["invoice"] for item in listed}["2026-03"] == "INV-2026-00001"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/host/invoices/INV-2026-00003?format=pdf", {}),
        ("/api/host/invoices/INV-2026-00003", {"HTTP_ACCEPT": "application/pdf"}),
        ("/api/host/invoices/INV-2026-00003.pdf", {}),
    ],
)
def test_the_pdf_holds_the_invoice(host_client, invoiced, path, headers):
    response = host_client.get(path, **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="INV-2026-00003.pdf"'
    text = pdf_text(response.content)
    for expected in (
        "Invoice INV-2026-00003",
        "Issued: 2026-06-10",
        "Due: 2026-07-10",
        "Billing month: 2026-05",
        "Acme Hosting",
        "ops@acme.test",
        "3 servers x 6.00 USD = 18.00 USD",
        "rust-000",
        "rust-002",
    ):
        assert expected in text, expected


@pytest.mark.parametrize("path", ["/api/host/invoices/INV-2026-00001", "/api/host/invoices/INV-2026-00001.pdf"])
def test_another_hosts_number_is_not_found(other_host_client, invoiced, path):
    response = other_host_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "invoice_not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/api/host/invoices/INV-2099-99999",
        "/api/host/invoices/nonsense?format=pdf",
        "/api/host/invoices/INV-2026-00001%00",
        f"/api/host/invoices/INV-2026-{'0' * 300}1",
    ],
)
def test_an_unknown_number_is_a_json_404(host_client, invoiced, path):
    response = host_client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "invoice_not_found"


def test_an_unknown_format_is_406(host_client, invoiced):
    response = host_client.get("/api/host/invoices/INV-2026-00001?format=docx")
    assert response.status_code == 406


def test_a_test_key_sees_no_invoices(host, invoiced):
    issued = api_key_issue(host=host, actor=ACTOR, name="sandbox", livemode=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert client.get("/api/host/invoices").json() == {"results": [], "next": None, "previous": None}
    for path in ("/api/host/invoices/INV-2026-00001", "/api/host/invoices/INV-2026-00001.pdf"):
        assert client.get(path).status_code == 404


def test_without_a_key_it_is_401(anon_client, invoiced):
    for path in ("/api/host/invoices", "/api/host/invoices/INV-2026-00001", "/api/host/invoices/INV-2026-00001.pdf"):
        response = anon_client.get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"


def test_a_bill_beyond_the_pdf_row_limit_says_how_many_servers_it_covers(host_client, invoiced, settings):
    settings.INVOICE_PDF_MAX_LINES = 2
    text = pdf_text(host_client.get("/api/host/invoices/INV-2026-00001.pdf").content)
    assert "This invoice covers 3 servers. The first 2 are listed below" in text
    assert "corrosion-billing-2026-03.csv" in text
    assert "rust-001" in text and "rust-002" not in text
    assert "3 servers x 6.00 USD = 18.00 USD" in text


def test_names_outside_latin_1_never_break_the_pdf(host_client, invoiced):
    # As a host renamed before the close would have it copied.
    Invoice.objects.filter(number="INV-2026-00003").update(
        buyer_company_name="Zürich Ōsaka 東京 Hosting", buyer_billing_address="Łódź"
    )
    response = host_client.get("/api/host/invoices/INV-2026-00003.pdf")
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert "Zürich Osaka ?? Hosting" in text, text[:400]
    assert "?ódz" in text  # Latin-1 kept, marks dropped where that leaves a letter, the rest "?"
    body = host_client.get("/api/host/invoices/INV-2026-00003").json()
    assert body["buyer"]["company_name"] == "Zürich Ōsaka 東京 Hosting"
