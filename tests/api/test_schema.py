import inspect
import re
import uuid

import jsonschema
import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from licensing.models import LicenseStatus

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
    "billing_retrieve_csv",
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


def _resolved(schema, node):
    """`node` with every `$ref` replaced by its component, as plain JSON Schema."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolved(schema, schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
        return {key: _resolved(schema, value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(schema, item) for item in node]
    return node


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(operation, status):
    return operation["responses"][status]["content"]["application/json"]["schema"]


def test_the_schema_is_openapi_3_with_the_bearer_scheme(schema):
    assert schema["openapi"].startswith("3.")
    scheme = schema["components"]["securitySchemes"]["hostApiKey"]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "crn_<key id>_<secret> (live) or crn_test_<key id>_<secret> (test mode)",
        "description": (
            "A host API key, issued by Corrosion staff and shown once. A live key (`crn_...`) acts on "
            "your live licenses, which are billed; a test key (`crn_test_...`) on your test-mode "
            "licenses only, which are never billed. Neither sees the other's licenses."
        ),
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
    # One named item type, whether sent alone or in a bulk array: a generated client gets one class.
    assert request["oneOf"] == [
        _ref("ProvisionItem"),
        {"type": "array", "items": _ref("ProvisionItem"), "minItems": 1, "maxItems": 100},
    ]
    item = schema["components"]["schemas"]["ProvisionItem"]
    assert item["required"] == ["server_id", "hostname", "customer_email"]
    assert {"200", "201", "400", "401", "409", "413", "415", "429"} <= set(operation["responses"])


def test_the_license_shape_lists_every_field(schema):
    properties = schema["components"]["schemas"]["License"]["properties"]
    assert set(properties) == {
        "id", "server_id", "hostname", "customer_email", "status", "livemode", "license_key", "companion_token",
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
    assert body == _ref("HeartbeatRequest")
    assert schema["components"]["schemas"]["HeartbeatRequest"]["required"] == ["license_key"]
    assert _json_body(operation, "200") == _ref("HeartbeatResponse")
    answer = schema["components"]["schemas"]["HeartbeatResponse"]
    assert answer["required"] == ["status", "valid", "livemode"]
    assert answer["properties"]["livemode"]["type"] == "boolean"
    assert answer["properties"]["status"] == _ref("LicenseStatus")
    assert {"200", "400", "404", "429", "503"} <= set(operation["responses"])


# What fuzzing the app against this document found it did not say (tests/faults/test_fuzz.py).


def test_every_paginated_list_documents_the_page_limits(schema):
    for path in ("/api/host/licenses", "/api/host/billing"):
        parameters = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 500}
        assert parameters["cursor"] == {"type": "string", "minLength": 1, "maxLength": 200}


def test_text_fields_document_that_control_characters_are_refused(schema):
    properties = schema["components"]["schemas"]["ProvisionItem"]["properties"]
    heartbeat = schema["components"]["schemas"]["HeartbeatRequest"]["properties"]
    for field in (properties["server_id"], properties["hostname"], heartbeat["version"]):
        pattern = re.compile(field["pattern"])
        assert pattern.match("Сервер 🦀 #1")
        for bad in ("a\x00b", "tab\there", "del\x7f", "nel\x85"):
            assert not pattern.match(bad), bad


def test_the_license_edit_body_is_one_or_two_known_fields(schema):
    body = schema["paths"]["/api/host/licenses/{license_id}"]["patch"]["requestBody"]
    assert body["required"] is True
    content = _resolved(schema, body["content"]["application/json"]["schema"])
    assert set(content["properties"]) == {"hostname", "customer_email"}
    assert content["additionalProperties"] is False
    assert content["minProperties"] == 1


def test_every_body_is_required(schema):
    for path, method, operation in _operations(schema):
        if "requestBody" in operation:
            assert operation["requestBody"]["required"] is True, (path, method)


@pytest.mark.parametrize("path", ["/api/host/billing/{month}", "/api/host/billing/{month}.csv"])
def test_the_bill_month_documents_its_format(schema, path):
    [month] = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "month"]
    pattern = re.compile(month["schema"]["pattern"])
    assert pattern.match("1970-01") and pattern.match("2026-12")
    for bad in ("1969-12", "0000-01", "2026-13", "2026-00", "2026-1", "202601"):
        assert not pattern.match(bad), bad


def test_every_operation_documents_the_app_servers_limits_and_host_ones_406(schema):
    for path, method, operation in _operations(schema):
        assert {"414", "431", "503"} <= set(operation["responses"]), (path, method)
        if path.startswith("/api/host/"):
            assert "406" in operation["responses"], (path, method)


# What a partner reads, and what a client generated from the document needs (issue 12).

_PATH_SAMPLES = {
    "license_id": str(uuid.uuid4()),
    "month": "2026-05",
    "endpoint_id": str(uuid.uuid4()),
    "delivery_id": str(uuid.uuid4()),
    "number": "INV-2026-00001",
}


def _view_docstrings(path):
    """The docstrings behind the view answering `path`: its function's, or each class's in its MRO."""
    concrete = re.sub(r"\{(\w+)\}", lambda match: _PATH_SAMPLES[match.group(1)], path)
    callback = resolve(concrete).func
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    owners = view_class.__mro__ if view_class else [callback]
    return [inspect.cleandoc(owner.__doc__) for owner in owners if owner.__doc__]


def _flat(text):
    return " ".join(text.split())


def test_every_operation_has_a_summary_and_a_description_of_its_own(schema):
    for path, method, operation in _operations(schema):
        assert operation.get("summary", "").strip(), (path, method)
        description = _flat(operation.get("description", ""))
        assert description, (path, method)
        # drf-spectacular falls back on a view's docstring, which is written for developers.
        for docstring in _view_docstrings(path):
            for paragraph in docstring.split("\n\n"):
                assert _flat(paragraph) not in description, (path, method, paragraph)


def test_the_license_status_is_one_component_that_every_status_refers_to(schema):
    components = schema["components"]["schemas"]
    assert components["LicenseStatus"]["enum"] == list(LicenseStatus.values)
    assert components["License"]["properties"]["status"] == _ref("LicenseStatus")
    assert components["BillLine"]["properties"]["status"] == _ref("LicenseStatus")
    assert components["HeartbeatResponse"]["properties"]["status"] == _ref("LicenseStatus")
    [status] = [p for p in schema["paths"]["/api/host/licenses"]["get"]["parameters"] if p["name"] == "status"]
    assert status["schema"] == _ref("LicenseStatus")

    def enums(node):
        if isinstance(node, dict):
            if "enum" in node:
                yield sorted(node["enum"])
            for value in node.values():
                yield from enums(value)
        elif isinstance(node, list):
            for value in node:
                yield from enums(value)

    # Nowhere else are the statuses listed again.
    assert list(enums(schema)).count(sorted(LicenseStatus.values)) == 1


def test_the_bill_csv_is_its_own_text_operation_and_the_json_one_is_json_only(schema):
    bill = schema["paths"]["/api/host/billing/{month}"]["get"]
    assert bill["responses"]["200"]["content"] == {"application/json": {"schema": _ref("Bill")}}
    assert "format" not in {parameter["name"] for parameter in bill["parameters"]}

    csv = schema["paths"]["/api/host/billing/{month}.csv"]["get"]
    assert csv["operationId"] == "billing_retrieve_csv"
    assert csv["responses"]["200"]["content"] == {"text/csv": {"schema": {"type": "string"}}}
    assert csv["security"] == [{"hostApiKey": []}]


def test_every_error_is_documented_as_json_only(schema):
    for path, method, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {"application/json": {"schema": _ref("Error")}}, (path, method, status)


def test_page_links_are_urls_whose_cursor_is_the_cursor_parameter(schema):
    for path in ("/api/host/licenses", "/api/host/billing"):
        operation = schema["paths"][path]["get"]
        page = _resolved(schema, _json_body(operation, "200"))
        assert set(page["required"]) == {"results", "next", "previous"}
        for link in ("next", "previous"):
            assert page["properties"][link]["format"] == "uri"
            assert page["properties"][link]["nullable"] is True
            assert "`cursor` query parameter" in page["properties"][link]["description"]
        [cursor] = [p for p in operation["parameters"] if p["name"] == "cursor"]
        assert "`cursor` query parameter" in cursor["description"]


def _error_schema(schema):
    return {"$schema": "http://json-schema.org/draft-07/schema#", **_resolved(schema, _ref("Error"))}


def test_a_bulk_conflict_is_answered_in_the_documented_shape(schema, host_client):
    fields = _resolved(schema, schema["components"]["schemas"]["ErrorFields"])
    assert _ref("ItemConflict") in schema["components"]["schemas"]["ErrorFields"]["additionalProperties"]["oneOf"]
    assert fields["additionalProperties"]["oneOf"][1]["required"] == ["code", "message"]

    item = {"server_id": "rust-1", "hostname": "a.example.test", "customer_email": "a@example.test"}
    assert host_client.post("/api/host/provision", item, format="json").status_code == 201
    conflict = host_client.post(
        "/api/host/provision", [{**item, "server_id": "rust-2"}, {**item, "hostname": "b.example.test"}], format="json"
    )
    assert conflict.status_code == 409
    body = conflict.json()
    jsonschema.validate(body, _error_schema(schema))
    assert body["error"]["fields"]["1"]["code"] == "server_id_conflict"


@pytest.mark.parametrize(
    "body",
    [
        {"server_id": "", "hostname": "a.example.test", "customer_email": "a@example.test"},
        [{"server_id": "rust-1", "hostname": "a.example.test"}, "not an object"],
        [],
    ],
    ids=["one", "bulk", "empty-bulk"],
)
def test_validation_errors_are_answered_in_the_documented_shape(schema, host_client, body):
    response = host_client.post("/api/host/provision", body, format="json")
    assert response.status_code == 400
    jsonschema.validate(response.json(), _error_schema(schema))
