"""Rules every paginated list shares, through corrosion.api.pagination.KeysetPagination."""

import pytest

pytestmark = pytest.mark.django_db

# Every list of the host API and the query parameters it takes besides `cursor` and `page_size`.
LISTS = {
    "/api/host/licenses": {"status", "server_id", "hostname", "customer_email", "license_key", "online"},
    "/api/host/billing": set(),
}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("query", ["stauts=x", "hostnme=x", "q=x", "search=x", "ordering=x", "page=2", "format=json"])
def test_every_list_refuses_a_parameter_it_does_not_take(host_client, path, query):
    """`format` too: no list offers anything but JSON (an unknown format is 406, as on every view)."""
    response = host_client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [query.split("=")[0]]


@pytest.mark.parametrize("path", LISTS)
def test_every_list_takes_its_page_parameters(host_client, path):
    assert host_client.get(f"{path}?page_size=10").status_code == 200


def test_the_billing_list_takes_no_filter(host_client):
    for name in sorted(LISTS["/api/host/licenses"]):
        response = host_client.get(f"/api/host/billing?{name}=x")
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == [name]


def test_each_list_documents_exactly_the_parameters_it_takes():
    from django.test import Client

    schema = Client().get("/api/schema/?format=json").json()
    for path, filters in LISTS.items():
        parameters = {p["name"] for p in schema["paths"][path]["get"]["parameters"] if p["in"] == "query"}
        assert parameters == filters | {"cursor", "page_size"}, path
