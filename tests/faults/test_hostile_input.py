"""Hostile input (issue 8, part 4), across every endpoint and field that takes it.

Per field tests live beside their endpoint (tests/licensing/test_provision.py, test_lifecycle.py,
test_heartbeat.py, test_list.py, tests/billing/test_api.py, tests/api/test_limits.py); this module
holds what crosses them: every text field against control characters, unicode, SQL and HTML
(stored and returned verbatim, escaped in every admin page), bodies too big, too deep or of the
wrong type, lying headers, ids and cursors that were never issued.
"""

import base64
import json
import uuid
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import Actor
from billing.months import month_latest_closable, month_start
from billing.services import month_close
from hosts.services import api_key_issue, host_create
from licensing.models import HostLicense, License
from tests.factories import HostLicenseFactory

pytestmark = pytest.mark.django_db

PROVISION = "/api/host/provision"
LICENSES = "/api/host/licenses"
BILLS = "/api/host/billing"
HEARTBEAT = "/api/plugin/heartbeat"
ITEM = {"server_id": "rust-hostile-01", "hostname": "play.hostile.test", "customer_email": "gamer@hostile.test"}

# C0 controls (NUL, backspace, tab, newlines, escape), DEL, and C1 controls (NEL, CSI).
CONTROL = ["\x00", "\x01", "\x08", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x85", "\x9b"]
UNICODE = [
    "Сервер 🦀",
    "服务器-01",
    "مرحبا",
    "e\u0301te\u0301",  # combining accents
    "\u202eevil\u202c",  # a right-to-left override: shown oddly, harmless as data
    "zero\u200bwidth\ufeff",
    "\U0001d56e\U0001d594\U0001d597",  # mathematical letters, outside the BMP: surrogate pairs in JSON
]
SQL = ["'; DROP TABLE licenses; --", "1' OR '1'='1", '" OR ""="', "%' OR 1=1 --", "x'); SELECT pg_sleep(5); --"]
HTML = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>', "{{7*7}}${7*7}"]


@pytest.fixture
def license_id(host_client):
    return host_client.post(PROVISION, ITEM, format="json").json()["id"]


def post_json(client, path, body, **extra):
    return client.generic("POST", path, body if isinstance(body, str | bytes) else json.dumps(body), **extra)


def assert_invalid(response, field):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error


# --- Control characters and unicode in every text field -------------------------------------------


def _text_fields():
    """(name, how to send a value in it, the field the error names) for every text field a client writes."""

    def provision(field):
        def send(client, value, license_id):
            return client.post(PROVISION, {**ITEM, field: value}, format="json")

        return send

    def edit(field):
        def send(client, value, license_id):
            return client.patch(f"{LICENSES}/{license_id}", {field: value}, format="json")

        return send

    def heartbeat(client, value, license_id):
        key = License.objects.get(pk=license_id).license_key
        return APIClient().post(HEARTBEAT, {"license_key": key, "version": value}, format="json")

    return [
        ("provision server_id", provision("server_id"), "server_id"),
        ("provision hostname", provision("hostname"), "hostname"),
        ("edit hostname", edit("hostname"), "hostname"),
        ("heartbeat version", heartbeat, "version"),
    ]


TEXT_FIELDS = _text_fields()


@pytest.mark.parametrize(("name", "send", "field"), TEXT_FIELDS, ids=[f[0] for f in TEXT_FIELDS])
def test_a_control_character_in_any_text_field_is_400_naming_it(host_client, license_id, name, send, field):
    before = (License.objects.count(), AuditEvent.objects.count(), HostLicense.objects.get().plugin_version)
    for character in CONTROL:
        response = send(host_client, f"abc{character}def", license_id)
        assert response.status_code == 400, (f"U+{ord(character):04X}", response.content)
        assert field in response.json()["error"]["fields"], f"U+{ord(character):04X}"
    assert (License.objects.count(), AuditEvent.objects.count(), HostLicense.objects.get().plugin_version) == before


@pytest.mark.parametrize("how", ["provision", "edit"])
def test_a_control_character_in_a_customer_email_is_400(host_client, license_id, how):
    for character in CONTROL:
        email = f"gam{character}er@hostile.test"
        if how == "provision":
            body = {**ITEM, "server_id": "other", "customer_email": email}
            response = host_client.post(PROVISION, body, format="json")
        else:
            response = host_client.patch(f"{LICENSES}/{license_id}", {"customer_email": email}, format="json")
        assert response.status_code == 400, f"U+{ord(character):04X}"
        assert "customer_email" in response.json()["error"]["fields"]
    assert License.objects.count() == 1


@pytest.mark.parametrize("text", UNICODE)
def test_unicode_in_every_text_field_is_stored_and_returned_verbatim(host_client, text):
    created = host_client.post(
        PROVISION, {"server_id": text, "hostname": text, "customer_email": "gamer@bücher.example"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["server_id"], body["hostname"], body["customer_email"]) == (text, text, "gamer@bücher.example")
    assert host_client.get(f"{LICENSES}/{body['id']}").json()["hostname"] == text
    [listed] = host_client.get(LICENSES, {"server_id": text}).json()["results"]
    assert listed["id"] == body["id"]
    host_license = HostLicense.objects.select_related("license").get(license_id=body["id"])
    assert (host_license.server_identifier, host_license.license.hostname) == (text, text)

    edited = host_client.patch(f"{LICENSES}/{body['id']}", {"hostname": text[::-1]}, format="json")
    assert edited.json()["hostname"] == text[::-1]
    beat = APIClient().post(HEARTBEAT, {"license_key": body["license_key"], "version": text[:64]}, format="json")
    assert beat.status_code == 200
    assert HostLicense.objects.get(license_id=body["id"]).plugin_version == text[:64]


def test_lengths_are_counted_in_characters_not_bytes(host_client):
    """255 crabs are 1,020 bytes of UTF-8 and still 255 characters: allowed; one more is not."""
    crabs = "🦀" * 255
    bulk = [{"server_id": f"{crabs[:-3]}{n:03d}", "hostname": crabs, "customer_email": ITEM["customer_email"]} for n in range(100)]  # fmt: skip
    response = host_client.post(PROVISION, bulk, format="json")
    assert response.status_code == 201, response.content
    assert {item["hostname"] for item in response.json()} == {crabs}
    assert_invalid(host_client.post(PROVISION, {**ITEM, "hostname": crabs + "🦀"}, format="json"), "hostname")
    assert_invalid(host_client.post(PROVISION, {**ITEM, "server_id": crabs + "🦀"}, format="json"), "server_id")


# --- SQL and HTML: stored and returned verbatim, never run, never rendered ------------------------


@pytest.mark.parametrize("text", SQL + HTML)
def test_sql_and_html_are_stored_and_returned_verbatim(host_client, text):
    response = host_client.post(PROVISION, {**ITEM, "server_id": text, "hostname": text}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["server_id"], body["hostname"]) == (text, text)
    [listed] = host_client.get(LICENSES, {"server_id": text}).json()["results"]
    assert listed["server_id"] == text
    assert host_client.get(LICENSES, {"server_id": text + "x"}).json()["results"] == []
    assert host_client.get(LICENSES, {"customer_email": text}).json()["results"] == []
    assert host_client.patch(f"{LICENSES}/{body['id']}", {"hostname": text[::-1]}, format="json").status_code == 200
    assert License.objects.count() == 1  # and every table is still there to count


def test_an_email_full_of_sql_is_a_valid_email_stored_verbatim(host_client):
    email = "x'or'1'='1@hostile.test"
    response = host_client.post(PROVISION, {**ITEM, "customer_email": email}, format="json")
    assert response.status_code == 201
    assert response.json()["customer_email"] == email
    assert host_client.get(LICENSES, {"customer_email": email}).json()["results"][0]["customer_email"] == email


SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
IMG = "<img src=x onerror=alert(1)>"
ESCAPED_IMG = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture
def hostile_world():
    """HTML in every field staff read in the admin: a host's name, a key's label, a license's server,
    hostname and plugin version, a closed bill's lines, the audit trail's details."""
    actor = Actor.command("tests")
    host, issued = host_create(company_name=f"Evil {SCRIPT} Hosting", contact_email="ops@evil.test", actor=actor)
    key = api_key_issue(host=host, name=f"key {IMG}", actor=actor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    created = client.post(PROVISION, {**ITEM, "server_id": SCRIPT, "hostname": IMG}, format="json").json()
    APIClient().post(HEARTBEAT, {"license_key": created["license_key"], "version": SCRIPT}, format="json")

    month = month_latest_closable()
    billed = HostLicenseFactory(
        host=host, server_identifier=f"billed {SCRIPT}", provisioned_at=month_start(month) + timedelta(days=1)
    )
    billed.license.hostname = IMG
    billed.license.save(update_fields=["hostname"])
    month_close(month=month, actor=actor)
    event = AuditEvent.objects.get(action="license.provisioned", target_id=created["id"])
    return {
        "host": host,
        "key": key.api_key,
        "host_license": HostLicense.objects.get(license_id=created["id"]),
        "record": host.billing_records.get(),
        "event": event,
    }


def test_html_is_escaped_in_every_admin_page_never_rendered(staff_client, hostile_world):
    w = hostile_world
    pages = {
        "license list": "/admin/licensing/hostlicense/",
        "license page": f"/admin/licensing/hostlicense/{w['host_license'].pk}/change/",
        "host list": "/admin/hosts/host/",
        "host page": f"/admin/hosts/host/{w['host'].pk}/change/",
        "API key list": "/admin/hosts/hostapikey/",
        "billing record list": "/admin/billing/billingrecord/",
        "billing record page": f"/admin/billing/billingrecord/{w['record'].pk}/change/",
        "audit event page": f"/admin/audit/auditevent/{w['event'].pk}/change/",
    }
    for page, url in pages.items():
        response = staff_client.get(url)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert SCRIPT not in html and IMG not in html, page
        assert ESCAPED_SCRIPT in html or ESCAPED_IMG in html, page  # shown, as text


def test_the_license_page_shows_every_hostile_field_as_text(staff_client, hostile_world):
    html = staff_client.get(f"/admin/licensing/hostlicense/{hostile_world['host_license'].pk}/change/").content
    html = html.decode()
    # server id, hostname, plugin version, and the audit trail's details of the provisioning
    assert html.count(ESCAPED_SCRIPT) >= 3 and ESCAPED_IMG in html


def test_a_search_in_the_admin_with_sql_is_just_text(staff_client, hostile_world):
    response = staff_client.get("/admin/licensing/hostlicense/", {"q": "'; DROP TABLE licenses; --"})
    assert response.status_code == 200
    assert License.objects.count() == 2


# --- Bodies: too big, too deep, not JSON, lying about their length ------------------------------


@pytest.fixture
def body_endpoints(host_client, license_id):
    key = License.objects.get(pk=license_id).license_key
    return {
        "provision": (host_client, "POST", PROVISION),
        "edit": (host_client, "PATCH", f"{LICENSES}/{license_id}"),
        "heartbeat": (APIClient(), "POST", HEARTBEAT, key),
    }


ENDPOINTS = ["provision", "edit", "heartbeat"]


def _send(body_endpoints, endpoint, body, content_type="application/json", **extra):
    client, method, path, *_ = body_endpoints[endpoint]
    return client.generic(method, path, body, content_type=content_type, **extra)


def _unchanged(license_id):
    host_license = HostLicense.objects.select_related("license").get(license_id=license_id)
    return (License.objects.count(), host_license.license.hostname, host_license.last_seen_at)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_over_the_limit_is_413_on_every_endpoint_that_takes_one(body_endpoints, license_id, settings, endpoint):
    settings.MAX_REQUEST_BYTES = 1000
    before = _unchanged(license_id)
    body = json.dumps({**ITEM, "license_key": "x", "padding": "p" * 2000})
    response = _send(body_endpoints, endpoint, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert _unchanged(license_id) == before


DEEP = [
    "[" * 50_000 + "]" * 50_000,  # valid JSON, 100 kB, deeper than the decoder's recursion
    '{"a":' * 30_000 + "1" + "}" * 30_000,
]


@pytest.mark.parametrize("body", DEEP, ids=["arrays", "objects"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_deeply_nested_body_is_400_malformed_not_a_crash(body_endpoints, license_id, endpoint, body):
    before = _unchanged(license_id)
    response = _send(body_endpoints, endpoint, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert _unchanged(license_id) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_nested_value_where_text_belongs_is_400_naming_the_field(body_endpoints, license_id, endpoint):
    nested = json.loads("[" * 500 + "]" * 500)
    field = {"provision": "hostname", "edit": "hostname", "heartbeat": "version"}[endpoint]
    key = body_endpoints["heartbeat"][3]
    body = {**ITEM, "license_key": key, field: nested}
    if endpoint == "edit":
        body = {field: nested}
    assert_invalid(_send(body_endpoints, endpoint, json.dumps(body)), field)
    assert _unchanged(license_id)[1] == ITEM["hostname"]


NOT_JSON = [
    ("hostname=x", "application/x-www-form-urlencoded"),
    ('{"hostname": "x"}', "text/plain"),
    ('{"hostname": "x"}', "application/json-patch+json"),
    ("<hostname>x</hostname>", "application/xml"),
    ('{"hostname": "x"}', ""),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_that_is_not_declared_json_is_415(body_endpoints, license_id, endpoint):
    before = _unchanged(license_id)
    for body, content_type in NOT_JSON:
        response = _send(body_endpoints, endpoint, body, content_type=content_type)
        assert response.status_code == 415, content_type
        assert response.json()["error"]["code"] == "unsupported_media_type"
    assert _unchanged(license_id) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_content_length_that_is_not_a_length_is_400(body_endpoints, endpoint):
    for length in ["-1", "abc", "1e3", "0x10"]:
        response = _send(body_endpoints, endpoint, json.dumps(ITEM), CONTENT_LENGTH=length)
        assert response.status_code == 400, length
        assert response.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "players", ["1" * 5000, "1e400", "-1e400", "9" * 30], ids=["5000 digits", "1e400", "-1e400", "30 digits"]
)
def test_numbers_too_big_for_anything_are_400(db, players):
    body = f'{{"license_key": "CRN-00000-00000-00000-00000-00000-00000", "players": {players}}}'
    response = APIClient().generic("POST", HEARTBEAT, body, content_type="application/json")
    assert response.status_code == 400


# --- Headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "Bearer " + "A" * 10_000,
        "Bearer crn_abcdefgh_" + "a" * 200,
        "Bearer crn_ABCDEFGH_" + "a" * 43,
        "Bearer crn_abcdefgh_" + "a" * 42 + "é",
        "Bearer ' OR 1=1 --",
        "Bearer <script>alert(1)</script>",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Token crn_abcdefgh_" + "a" * 43,
    ],
)
def test_a_malformed_authorization_header_is_the_same_json_401(db, header):
    response = APIClient().get(LICENSES, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("request_id", ["abc\n", "x" * 65, "<script>", "a b", "ok-id\r\nSet-Cookie: x=1"])
def test_a_hostile_request_id_is_replaced_not_echoed(db, request_id):
    """A newline in X-Request-ID passed the id's `$` and made setting the response header a 500."""
    response = APIClient().get("/healthz", HTTP_X_REQUEST_ID=request_id)
    assert response.status_code == 200
    assert response["X-Request-ID"] != request_id
    assert len(response["X-Request-ID"]) == 32


def test_a_sane_request_id_is_kept(db):
    assert APIClient().get("/healthz", HTTP_X_REQUEST_ID="lb-1234.abc_Z")["X-Request-ID"] == "lb-1234.abc_Z"


# --- Ids, filters, page sizes and cursors that were never issued -------------------------------


NOT_IDS = [
    "not-a-uuid",
    "00000000000000000000000000000000",  # no dashes
    "00000000-0000-0000-0000-000000000000",  # nil, well formed, unknown
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "' OR 1=1 --",
    "%00",
    "1",
    "-1",
    "9" * 40,
]


@pytest.mark.parametrize("action", ["", "/suspend", "/resume", "/terminate"])
def test_an_id_that_is_not_a_license_of_this_host_is_a_json_404(host_client, license_id, action):
    method = host_client.get if action == "" else host_client.post
    for license_ref in NOT_IDS:
        response = method(f"{LICENSES}/{license_ref}{action}")
        assert response.status_code == 404, license_ref
        assert response.json()["error"]["code"] == "not_found"
    assert host_client.patch(f"{LICENSES}/{NOT_IDS[2]}", {"hostname": "x"}, format="json").status_code == 404
    assert License.objects.get(pk=license_id).status == "active"


def test_an_upper_case_id_of_a_real_license_is_404_not_a_second_spelling(host_client, license_id):
    assert host_client.get(f"{LICENSES}/{license_id.upper()}").status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("server_id=a%00b", "server_id"),
        ("customer_email=%00", "customer_email"),
        ("status=%00", "status"),
        ("status=<script>", "status"),
        ("online=%00", "online"),
        ("online=maybe", "online"),
        ("server_id=" + "x" * 256, "server_id"),
        ("customer_email=" + "x" * 255, "customer_email"),
        ("cursor=%00", "cursor"),
    ],
)
def test_a_bad_filter_value_is_400_naming_it(host_client, query, field):
    assert_invalid(host_client.get(f"{LICENSES}?{query}"), field)


def test_a_filter_value_matches_exactly_never_as_a_pattern(host_client, license_id):
    for value in ["a%01b", "a%1Bb", "%E2%80%AE", "' OR 1=1 --", "%25", "_", "*", "rust-hostile-0_", "RUST-HOSTILE-01"]:
        assert host_client.get(f"{LICENSES}?server_id={value}").json()["results"] == [], value
        assert host_client.get(f"{LICENSES}?customer_email={value}").json()["results"] == [], value


@pytest.mark.parametrize("path", [LICENSES, BILLS])
def test_a_page_size_out_of_range_or_not_a_number_is_400_on_every_list(host_client, path):
    for page_size in [
        "0",
        "-1",
        "-99999999999999999999",
        "501",
        "99999999999999999999",
        "abc",
        "1e3",
        "",
        "%00",
        "5;1",
    ]:
        response = host_client.get(f"{path}?page_size={page_size}")
        assert response.status_code == 400, page_size
        assert "page_size" in response.json()["error"]["fields"], page_size


def _cursor(raw):
    data = raw if isinstance(raw, bytes) else raw.encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


NIL = "00000000-0000-0000-0000-000000000000"
FORGED_CURSORS = [
    "garbage",
    "é",
    "x" * 201,
    "%00",
    _cursor(b"\xff\xfe\xfd"),
    _cursor(f"n|2026-01-01|{NIL}|extra"),
    _cursor(f"n|99999-01-01|{NIL}"),
    _cursor(f"q|2026-01-01|{NIL}"),
    _cursor("n|2026-01-01|' OR 1=1 --"),
]


@pytest.mark.parametrize("path", [LICENSES, BILLS])
def test_a_forged_cursor_is_400_on_every_list(host_client, path):
    for cursor in FORGED_CURSORS:
        response = host_client.get(f"{path}?cursor={cursor}")
        assert response.status_code == 400, cursor
        assert "cursor" in response.json()["error"]["fields"], cursor


def test_a_cursor_of_one_list_is_refused_by_the_other(host_client):
    """The bills list pages by a date, the licenses list by an aware time: neither reads the other's."""
    assert_invalid(host_client.get(f"{BILLS}?cursor={_cursor(f'n|2026-01-01T00:00:00+00:00|{NIL}')}"), "cursor")
    assert_invalid(host_client.get(f"{LICENSES}?cursor={_cursor(f'n|2026-01-01|{NIL}')}"), "cursor")


def test_a_well_formed_cursor_of_another_host_only_positions_this_hosts_list(host_client, other_host_client):
    """A cursor is a position, not a capability: another host's gives this host its own rows from there."""
    for n in range(3):
        other_host_client.post(PROVISION, {**ITEM, "server_id": f"other-{n}"}, format="json")
    host_client.post(PROVISION, ITEM, format="json")
    link = other_host_client.get(f"{LICENSES}?page_size=1").json()["next"]
    cursor = link.split("cursor=")[1]
    future = _cursor(f"n|9999-12-31T00:00:00+00:00|{uuid.UUID(int=2**128 - 1)}")
    for forged in (cursor, future):
        results = host_client.get(f"{LICENSES}?cursor={forged}").json()["results"]
        assert {r["server_id"] for r in results} <= {ITEM["server_id"]}
