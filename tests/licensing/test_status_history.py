"""Each license's status history (time, status, who), written with every change; and who may resume
a suspended license (SPEC: Data, and "Who suspended a license matters")."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from audit.services import Actor
from licensing.models import HostLicense, License, LicenseStatusChange
from licensing.services import license_resume, license_suspend, license_terminate

pytestmark = pytest.mark.django_db

ITEM = {"server_id": "rust-nyc-01", "hostname": "play.acme.test", "customer_email": "gamer@example.test"}
STAFF = Actor.staff
OPERATOR = Actor.command("ops-script")


def provision(client, item=ITEM):
    response = client.post("/api/host/provision", item, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def act(client, license_id, action):
    return client.post(f"/api/host/licenses/{license_id}/{action}")


def history(license_id):
    return list(
        LicenseStatusChange.objects.filter(license_id=license_id)
        .order_by("sequence")
        .values_list("sequence", "status", "actor_type", "actor")
    )


def host_license(license_id):
    return HostLicense.objects.get(license_id=license_id)


@pytest.fixture
def key_id(host):
    return host.api_keys.get().key_id


@pytest.fixture
def license_id(host_client):
    return provision(host_client)["id"]


def test_provisioning_writes_the_first_row_active_by_the_hosts_key(host_client, license_id, key_id):
    assert history(license_id) == [(1, "active", "host_key", key_id)]
    change = LicenseStatusChange.objects.get(license_id=license_id)
    assert change.changed_at == License.objects.get(pk=license_id).provisioned_at


def test_a_bulk_provisioning_writes_one_first_row_per_license(host_client):
    items = [{**ITEM, "server_id": f"rust-{n}"} for n in range(5)]
    ids = [license["id"] for license in host_client.post("/api/host/provision", items, format="json").json()]
    assert {license_id: [row[1] for row in history(license_id)] for license_id in ids} == {
        license_id: ["active"] for license_id in ids
    }


def test_a_retried_provisioning_writes_nothing_more(host_client, license_id):
    provision(host_client)
    assert len(history(license_id)) == 1


def test_every_change_appends_a_row_with_its_time_and_who(host_client, license_id, key_id, staff_user):
    act(host_client, license_id, "suspend")
    license_resume(host_license=host_license(license_id), actor=STAFF(staff_user))
    license_suspend(host_license=host_license(license_id), actor=OPERATOR)
    license_terminate(host_license=host_license(license_id), actor=STAFF(staff_user))
    assert history(license_id) == [
        (1, "active", "host_key", key_id),
        (2, "suspended", "host_key", key_id),
        (3, "active", "staff", "staff"),
        (4, "suspended", "command", "ops-script"),
        (5, "terminated", "staff", "staff"),
    ]
    license = License.objects.get(pk=license_id)
    last = LicenseStatusChange.objects.get(license_id=license_id, sequence=5)
    assert last.changed_at == license.terminated_at == license.status_changed_at


def test_a_repeated_or_refused_change_writes_no_row(host_client, license_id):
    act(host_client, license_id, "resume")  # already active: a no-op
    act(host_client, license_id, "terminate")
    assert act(host_client, license_id, "suspend").status_code == 409
    assert [row[1] for row in history(license_id)] == ["active", "terminated"]


def test_the_row_is_written_in_the_changes_transaction(host_client, license_id, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr("licensing.services.audit_record", fail)
    with pytest.raises(RuntimeError):
        license_suspend(host_license=host_license(license_id), actor=OPERATOR)
    assert License.objects.get(pk=license_id).status == "active"
    assert len(history(license_id)) == 1


def test_the_history_is_append_only_in_the_orm(host_client, license_id):
    change = LicenseStatusChange.objects.get(license_id=license_id)
    for attempt in (
        lambda: LicenseStatusChange.objects.update(status="suspended"),
        lambda: LicenseStatusChange.objects.all().delete(),
        change.delete,
        change.save,
    ):
        with pytest.raises(ProtectedError):
            attempt()


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "sql", ["UPDATE license_status_changes SET status = 'suspended'", "DELETE FROM license_status_changes"]
)
def test_the_database_refuses_to_change_the_history(host_client, license_id, sql):
    with pytest.raises(IntegrityError, match="refused"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


def test_the_database_refuses_two_rows_with_one_sequence(host_client, license_id):
    change = LicenseStatusChange.objects.get(license_id=license_id)
    twin = LicenseStatusChange(
        license_id=license_id,
        sequence=1,
        status="suspended",
        changed_at=change.changed_at,
        actor_type="staff",
        actor="x",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)


@pytest.mark.parametrize(
    ("field", "value"), [("status", "paused"), ("actor_type", "robot"), ("sequence", 0)], ids=["status", "actor", "seq"]
)
def test_the_database_refuses_a_row_that_breaks_a_rule(host_client, license_id, field, value):
    change = LicenseStatusChange.objects.get(license_id=license_id)
    values = {"status": "suspended", "actor_type": "staff", "sequence": 2, field: value}
    row = LicenseStatusChange(license_id=license_id, changed_at=change.changed_at, actor="x", **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save(force_insert=True)


# --- Who may resume --------------------------------------------------------------------------


def _select(staff_client, action, license_id):
    return staff_client.post(
        "/admin/licensing/hostlicense/",
        {"action": action, "_selected_action": [str(host_license(license_id).pk)]},
        follow=True,
    )


def test_a_license_staff_suspended_in_the_admin_cannot_be_resumed_by_the_host(host_client, staff_client, license_id):
    _select(staff_client, "suspend", license_id)
    response = act(host_client, license_id, "resume")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "suspended_by_staff"
    assert License.objects.get(pk=license_id).status == "suspended"
    assert [row[1] for row in history(license_id)] == ["active", "suspended"]
    # Staff can, in the admin.
    page = _select(staff_client, "resume", license_id).content.decode()
    assert "Resumed 1 license(s)." in page
    assert act(host_client, license_id, "suspend").status_code == 200  # and the host may suspend it again


def test_a_license_an_operators_command_suspended_cannot_be_resumed_by_the_host(host_client, license_id):
    license_suspend(host_license=host_license(license_id), actor=OPERATOR)
    response = act(host_client, license_id, "resume")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "suspended_by_staff")
    assert license_resume(host_license=host_license(license_id), actor=OPERATOR).status == "active"


def test_the_hosts_own_suspension_is_resumed_by_the_host(host_client, license_id):
    act(host_client, license_id, "suspend")
    response = act(host_client, license_id, "resume")
    assert (response.status_code, response.json()["status"]) == (200, "active")


def test_the_hosts_own_suspension_can_be_resumed_by_staff(host_client, staff_client, license_id):
    act(host_client, license_id, "suspend")
    assert "Resumed 1 license(s)." in _select(staff_client, "resume", license_id).content.decode()
    assert License.objects.get(pk=license_id).status == "active"


def test_a_later_suspension_by_the_host_is_the_one_that_counts(host_client, staff_user, license_id):
    license_suspend(host_license=host_license(license_id), actor=STAFF(staff_user))
    license_resume(host_license=host_license(license_id), actor=STAFF(staff_user))
    act(host_client, license_id, "suspend")
    assert act(host_client, license_id, "resume").status_code == 200


def test_the_host_may_still_terminate_a_license_staff_suspended(host_client, staff_user, license_id):
    license_suspend(host_license=host_license(license_id), actor=STAFF(staff_user))
    assert act(host_client, license_id, "terminate").json()["status"] == "terminated"


def test_the_admin_shows_the_status_history(host_client, staff_client, license_id, key_id):
    act(host_client, license_id, "suspend")
    _select(staff_client, "resume", license_id)
    html = staff_client.get(f"/admin/licensing/hostlicense/{host_license(license_id).pk}/change/").content.decode()
    table = html[html.index('class="status-history"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 4  # the header and three changes
    assert table.index("active") < table.index("suspended") < table.rindex("active")
    assert f"host_key: {key_id}" in table
    assert "staff: staff" in table


def test_a_license_the_previous_release_wrote_without_history_starts_it_at_provisioning_when_changed():
    """Provisioned by the previous release during a rollout, after the history's back-fill."""
    from tests.factories import HostLicenseFactory

    legacy = HostLicenseFactory(status_history=False)
    license_suspend(host_license=legacy, actor=Actor.host_key("abcd1234"))
    assert history(legacy.license_id) == [
        (1, "active", "system", "back-fill: actor unknown"),
        (2, "suspended", "host_key", "abcd1234"),
    ]


def test_backfill_status_history_adds_only_what_is_missing_and_is_safe_to_re_run(host_client, license_id):
    from io import StringIO

    from django.core.management import call_command

    from tests.factories import HostLicenseFactory

    legacy = HostLicenseFactory(status="suspended", status_history=False)
    out = StringIO()
    call_command("backfill_status_history", stdout=out)
    assert out.getvalue().startswith("1 license(s) given a status history; 1 ")
    assert [row[:2] for row in history(legacy.license_id)] == [(1, "active"), (2, "suspended")]
    assert [row[:2] for row in history(license_id)] == [(1, "active")]  # untouched
    out = StringIO()
    call_command("backfill_status_history", stdout=out)
    assert out.getvalue().startswith("0 license(s) given a status history; 0 ")
