import re

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

HOST_OPERATIONS = {
    "licenses_provision",
    "licenses_list",
    "licenses_retrieve",
    "licenses_update",
    "licenses_suspend",
    "licenses_resume",
    "licenses_terminate",
    "billing_list",
    "billing_retrieve",
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_schema_is_openapi_3_with_the_bearer_scheme(schema):
    assert schema["openapi"].startswith("3.")
    scheme = schema["components"]["securitySchemes"]["hostApiKey"]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "crn_<key id>_<secret>",
        "description": "A host API key, issued by Corrosion staff and shown once.",
    }


def test_every_host_operation_documents_its_auth_and_errors(schema):
    seen = set()
    for path, _, operation in _operations(schema):
        if not path.startswith("/api/host/"):
            continue
        seen.add(operation["operationId"])
        assert operation["security"] == [{"hostApiKey": []}]
        for status in ("401", "429"):
            assert status in operation["responses"], (path, status)
            body = operation["responses"][status]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/Error"}
    assert seen >= HOST_OPERATIONS


def test_provision_documents_one_or_many_items_and_every_error(schema):
    operation = schema["paths"]["/api/host/provision"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert [variant.get("type") for variant in request["oneOf"]] == ["object", "array"]
    assert request["oneOf"][1]["maxItems"] == 100
    assert {"200", "201", "400", "401", "409", "413", "415", "429"} <= set(operation["responses"])


def test_the_license_shape_lists_every_field(schema):
    properties = schema["components"]["schemas"]["License"]["properties"]
    assert set(properties) == {
        "id", "server_id", "hostname", "customer_email", "status", "license_key", "companion_token",
        "plugin_download_url", "subdomain", "panel_url", "provisioned_at", "last_seen_at", "online",
    }  # fmt: skip


def test_the_docs_page_renders_from_local_assets_only():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert scripts, html
    assert all(src.startswith("/static/") for src in scripts), scripts
    for src in scripts:
        assert APIClient().get(src).status_code == 200


def test_every_body_carrying_operation_documents_413_and_415(schema):
    for path, method, operation in _operations(schema):
        if method in ("post", "patch"):
            assert {"413", "415"} <= set(operation["responses"]), (path, method)


def test_the_heartbeat_is_documented_without_host_auth(schema):
    operation = schema["paths"]["/api/plugin/heartbeat"]["post"]
    assert operation["security"] == []
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["license_key"]
    assert {"200", "400", "404", "429", "503"} <= set(operation["responses"])


# What fuzzing the app against this document found it did not say (tests/faults/test_fuzz.py).


def test_every_paginated_list_documents_the_page_limits(schema):
    for path in ("/api/host/licenses", "/api/host/billing"):
        parameters = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 500}
        assert parameters["cursor"] == {"type": "string", "minLength": 1, "maxLength": 200}


def test_text_fields_document_that_control_characters_are_refused(schema):
    item = schema["paths"]["/api/host/provision"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    properties = item["oneOf"][0]["properties"]
    heartbeat = schema["paths"]["/api/plugin/heartbeat"]["post"]["requestBody"]["content"]["application/json"]
    for field in (properties["server_id"], properties["hostname"], heartbeat["schema"]["properties"]["version"]):
        pattern = re.compile(field["pattern"])
        assert pattern.match("Сервер 🦀 #1")
        for bad in ("a\x00b", "tab\there", "del\x7f", "nel\x85"):
            assert not pattern.match(bad), bad


def test_the_license_edit_body_is_one_or_two_known_fields(schema):
    body = schema["paths"]["/api/host/licenses/{license_id}"]["patch"]["requestBody"]
    assert body["required"] is True
    content = body["content"]["application/json"]["schema"]
    assert set(content["properties"]) == {"hostname", "customer_email"}
    assert content["additionalProperties"] is False
    assert content["minProperties"] == 1


def test_every_body_is_required(schema):
    for path, method, operation in _operations(schema):
        if "requestBody" in operation:
            assert operation["requestBody"]["required"] is True, (path, method)


def test_the_bill_month_documents_its_format(schema):
    [month] = [p for p in schema["paths"]["/api/host/billing/{month}"]["get"]["parameters"] if p["name"] == "month"]
    pattern = re.compile(month["schema"]["pattern"])
    assert pattern.match("1970-01") and pattern.match("2026-12")
    for bad in ("1969-12", "0000-01", "2026-13", "2026-00", "2026-1", "202601"):
        assert not pattern.match(bad), bad


def test_every_operation_documents_the_app_servers_limits_and_host_ones_406(schema):
    for path, method, operation in _operations(schema):
        assert {"414", "431", "503"} <= set(operation["responses"]), (path, method)
        if path.startswith("/api/host/"):
            assert "406" in operation["responses"], (path, method)
