from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone

from licensing.models import LicenseStatus
from tests.factories import HostLicenseFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/host/licenses"


def cursor_of(link):
    return parse_qs(urlparse(link).query)["cursor"][0]


def make(host, n, *, start=None, **kwargs):
    start = start or timezone.now() - timedelta(days=1)
    return [HostLicenseFactory(host=host, provisioned_at=start + timedelta(minutes=i), **kwargs) for i in range(n)]


def test_it_lists_the_hosts_licenses_newest_first(host, host_client):
    rows = make(host, 3)
    HostLicenseFactory()  # another host's
    body = host_client.get(URL).json()
    assert [r["id"] for r in body["results"]] == [str(r.license_id) for r in reversed(rows)]
    assert body["next"] is None and body["previous"] is None


def test_it_pages_forward_and_back_without_gaps_even_on_equal_timestamps(host, host_client):
    same_moment = timezone.now() - timedelta(hours=1)
    rows = [HostLicenseFactory(host=host, provisioned_at=same_moment) for _ in range(7)]
    expected = [str(r.license_id) for r in sorted(rows, key=lambda r: r.license_id, reverse=True)]

    seen, link, pages = [], f"{URL}?page_size=3", []
    while link:
        body = host_client.get(link).json()
        pages.append(body)
        seen += [r["id"] for r in body["results"]]
        link = body["next"]
    assert seen == expected
    assert [len(p["results"]) for p in pages] == [3, 3, 1]

    back = host_client.get(pages[2]["previous"]).json()
    assert [r["id"] for r in back["results"]] == expected[3:6]
    first = host_client.get(back["previous"]).json()
    assert [r["id"] for r in first["results"]] == expected[:3]
    assert first["previous"] is None


@pytest.mark.parametrize("page_size", ["0", "-1", "501", "abc", "99999999999999999999"])
def test_a_bad_page_size_is_400(host_client, page_size):
    response = host_client.get(f"{URL}?page_size={page_size}")
    assert response.status_code == 400
    assert "page_size" in response.json()["error"]["fields"]


def test_page_size_500_is_allowed(host_client):
    assert host_client.get(f"{URL}?page_size=500").status_code == 200


def _cursor(raw):
    import base64

    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "bnwyMDI2",
        "%00",
        "cXxub3QtYS1kYXRlfHg",
        _cursor("n|0001-01-01T00:00:00+14:00|00000000-0000-0000-0000-000000000000"),
        _cursor("n|9999-12-31T23:59:59-14:00|00000000-0000-0000-0000-000000000000"),
        _cursor("n|2026-01-01T00:00:00|00000000-0000-0000-0000-000000000000"),
        _cursor("x|2026-01-01T00:00:00+00:00|00000000-0000-0000-0000-000000000000"),
        _cursor("n|2026-01-01T00:00:00+00:00|not-a-uuid"),
    ],
)
def test_a_forged_cursor_is_400(host_client, cursor):
    response = host_client.get(f"{URL}?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["fields"]


def test_filters_by_status_server_id_and_customer_email(host, host_client):
    active = HostLicenseFactory(host=host, server_identifier="rust-a")
    suspended = HostLicenseFactory(host=host, server_identifier="rust-b", status=LicenseStatus.SUSPENDED)
    ids = lambda q: [r["id"] for r in host_client.get(f"{URL}?{q}").json()["results"]]  # noqa: E731
    assert ids("status=suspended") == [str(suspended.license_id)]
    assert ids("server_id=rust-a") == [str(active.license_id)]
    assert ids(f"customer_email={active.customer_email.upper()}") == [str(active.license_id)]
    assert host_client.get(f"{URL}?status=paused").status_code == 400


def test_filters_by_online(host, host_client):
    now = timezone.now()
    online = HostLicenseFactory(host=host, last_seen_at=now - timedelta(minutes=2))
    offline = HostLicenseFactory(host=host, last_seen_at=now - timedelta(minutes=30))
    never = HostLicenseFactory(host=host)
    ids = lambda q: {r["id"] for r in host_client.get(f"{URL}?{q}").json()["results"]}  # noqa: E731
    assert ids("online=true") == {str(online.license_id)}
    assert ids("online=false") == {str(offline.license_id), str(never.license_id)}
    rows = {r["id"]: r for r in host_client.get(URL).json()["results"]}
    assert rows[str(online.license_id)]["online"] is True
    assert rows[str(offline.license_id)]["online"] is False


def test_the_detail_shows_one_license(host, host_client):
    row = HostLicenseFactory(host=host)
    body = host_client.get(f"{URL}/{row.license_id}").json()
    assert body["id"] == str(row.license_id)
    assert body["server_id"] == row.server_identifier


def test_another_hosts_licenses_are_invisible(host, host_client, other_host_client):
    mine = make(host, 2)
    listed = other_host_client.get(URL).json()["results"]
    assert listed == []
    for row in mine:
        response = other_host_client.get(f"{URL}/{row.license_id}")
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
        found = other_host_client.get(f"{URL}?server_id={row.server_identifier}").json()["results"]
        assert found == []


def test_an_unknown_id_is_the_same_404(host_client):
    response = host_client.get(f"{URL}/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


@pytest.mark.parametrize("count", [3, 60])
@pytest.mark.parametrize("page_size", [10, 500])
def test_list_queries_are_constant(host, host_client, django_assert_max_num_queries, count, page_size):
    make(host, count)
    with django_assert_max_num_queries(3):
        response = host_client.get(f"{URL}?page_size={page_size}")
    assert len(response.json()["results"]) == min(count, page_size)


def test_detail_queries_are_constant(host, host_client, django_assert_max_num_queries):
    row = make(host, 1)[0]
    with django_assert_max_num_queries(3):
        assert host_client.get(f"{URL}/{row.license_id}").status_code == 200


def test_the_license_output_is_exactly_what_its_declared_fields_render(host):
    """The serializer builds its dict by hand for speed; DRF's field-by-field walk must agree."""
    from rest_framework import serializers

    from licensing.selectors import licenses_for_host, online_since
    from licensing.serializers import LicenseOutputSerializer

    make(host, 1)
    make(host, 1, status=LicenseStatus.SUSPENDED, last_seen_at=timezone.now() - timedelta(minutes=3))
    make(host, 1, last_seen_at=timezone.now() - timedelta(hours=3))
    context = {"online_since": online_since()}
    for row in licenses_for_host(host=host, livemode=True):
        serializer = LicenseOutputSerializer(context=context)
        assert serializer.to_representation(row) == serializers.Serializer.to_representation(serializer, row)


def test_filters_by_hostname_ignoring_case_and_by_license_key(host, host_client):
    mine = HostLicenseFactory(host=host, license__hostname="Play.Acme.test")
    HostLicenseFactory(host=host, license__hostname="play.acme.test.other")
    theirs = HostLicenseFactory(license__hostname="play.acme.test")  # another host's
    ids = lambda q: [r["id"] for r in host_client.get(f"{URL}?{q}").json()["results"]]  # noqa: E731
    assert ids("hostname=PLAY.ACME.TEST") == [str(mine.license_id)]
    assert ids("hostname=play.acme") == []  # exact, not a prefix
    assert ids(f"license_key={mine.license.license_key}") == [str(mine.license_id)]
    assert ids(f"license_key={mine.license.license_key.lower()}") == []  # keys are exact
    assert ids(f"license_key={theirs.license.license_key}") == []
    assert ids(f"hostname=play.acme.test&license_key={mine.license.license_key}") == [str(mine.license_id)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("hostname=" + "h" * 256, "hostname"),
        ("license_key=" + "K" * 65, "license_key"),
        ("customer_email=" + "e" * 255, "customer_email"),
        ("server_id=" + "s" * 256, "server_id"),
        ("hostname=a%00b", "hostname"),
    ],
)
def test_a_filter_value_over_its_limit_is_400(host_client, query, field):
    response = host_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize("query", ["stauts=active", "hostnme=x", "page=2", "format=json", "Status=active", "id=1"])
def test_an_unknown_query_parameter_is_400_naming_it(host, host_client, query):
    """A typo never answers the whole list as if it were unfiltered."""
    HostLicenseFactory(host=host)
    response = host_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    name = query.split("=")[0]
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "The request is invalid; see fields.",
        "fields": {name: ["Unknown query parameter: this list does not take it."]},
    }


def test_unknown_and_invalid_parameters_are_named_together(host_client):
    response = host_client.get(f"{URL}?stauts=active&status=paused&page_size=0&x=1")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"stauts", "status", "page_size", "x"}


def test_every_known_parameter_is_taken(host, host_client):
    row = HostLicenseFactory(host=host, license__hostname="a.test", last_seen_at=timezone.now())
    query = (
        f"status=active&server_id={row.server_identifier}&hostname=A.test&customer_email={row.customer_email}"
        f"&license_key={row.license.license_key}&online=true&page_size=5"
    )
    body = host_client.get(f"{URL}?{query}").json()
    assert [r["id"] for r in body["results"]] == [str(row.license_id)]


def test_a_terminated_license_is_never_online(host, host_client):
    """Its plugin may still beat: the heartbeat keeps recording it, but the license is gone."""
    now = timezone.now()
    beating = HostLicenseFactory(host=host, last_seen_at=now - timedelta(minutes=1))
    terminated = HostLicenseFactory(host=host, status=LicenseStatus.TERMINATED, last_seen_at=now - timedelta(minutes=1))
    suspended = HostLicenseFactory(host=host, status=LicenseStatus.SUSPENDED, last_seen_at=now - timedelta(minutes=1))
    ids = lambda q: {r["id"] for r in host_client.get(f"{URL}?{q}").json()["results"]}  # noqa: E731
    assert ids("online=true") == {str(beating.license_id), str(suspended.license_id)}
    assert ids("online=false") == {str(terminated.license_id)}
    rows = {r["id"]: r["online"] for r in host_client.get(URL).json()["results"]}
    assert rows == {str(beating.license_id): True, str(suspended.license_id): True, str(terminated.license_id): False}
    assert host_client.get(f"{URL}/{terminated.license_id}").json()["online"] is False


@pytest.mark.parametrize(
    "query",
    ["hostname=play0.example.test", "license_key=CRN-X", "customer_email=A@B.test", "online=true", "status=active"],
)
def test_filtered_list_queries_are_constant(host, host_client, django_assert_max_num_queries, query):
    make(host, 30, last_seen_at=timezone.now())
    with django_assert_max_num_queries(3):
        assert host_client.get(f"{URL}?{query}&page_size=10").status_code == 200


def _many_licenses(host, count):
    """`count` licenses of one host, written in bulk, each with its own hostname, e-mail and server id."""
    from licensing.models import HostLicense, License

    customer = UserFactory()
    now = timezone.now()
    licenses = [
        License(
            license_key=f"CRN-BULK-{n:08d}",
            companion_token=f"bulk-companion-{n:08d}",
            customer=customer,
            hostname=f"play{n}.example.test",
            subdomain=f"bulk-{n}",
            provisioned_at=now - timedelta(minutes=n),
            status_changed_at=now,
        )
        for n in range(count)
    ]
    License.objects.bulk_create(licenses, batch_size=1000)
    HostLicense.objects.bulk_create(
        [
            HostLicense(
                host=host,
                license=license,
                server_identifier=f"rust-{n}",
                customer_email=f"customer{n}@example.test",
                provisioned_at=license.provisioned_at,
            )
            for n, license in enumerate(licenses)
        ],
        batch_size=1000,
    )


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"hostname": "Play7.Example.test"}, "licenses_hostname_upper_idx"),
        ({"license_key": "CRN-BULK-00000007"}, "licenses_license_key"),
        ({"customer_email": "Customer7@Example.test"}, "host_licenses_email_idx"),
        ({"server_id": "rust-7"}, "host_licenses_server_idx"),
    ],
)
def test_a_filtered_page_of_a_big_host_reads_an_index_not_the_hosts_licenses(host, filters, index):
    """The page's own query (ordered, LIMIT 51) on a host of 5,000 licenses with fresh statistics."""
    from django.db import connection

    from licensing.selectors import licenses_for_host

    _many_licenses(host, 5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE licenses")
        cursor.execute("ANALYZE host_licenses")
    queryset = licenses_for_host(host=host, livemode=True, filters=filters).order_by("-provisioned_at", "-license_id")[
        :51
    ]
    plan = queryset.explain()
    assert index in plan, plan
    assert "host_licenses_list_idx" not in plan, plan
    assert [row.server_identifier for row in queryset] == ["rust-7"]
