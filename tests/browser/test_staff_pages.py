"""The staff's own pages in a real browser: the front page, the branded index, closing a month, and
every list at a 1366 px laptop's width."""

import urllib.request
from datetime import timedelta

import pytest

from audit.services import Actor
from billing.models import BillingMonth
from billing.months import month_format, month_latest_closable, month_previous, month_start
from billing.services import month_close
from hosts.services import api_key_issue, host_create, host_update
from licensing.services import license_suspend
from tests.factories import HostLicenseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Our pages run under a Content-Security-Policy with no inline script: none may rely on one.
INLINE_SCRIPT = """() => [
    ...[...document.querySelectorAll('script:not([src])')].map(s => 'script: ' + s.textContent.slice(0, 60)),
    ...[...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
        .filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
]"""


def assert_no_inline_script(page):
    assert page.evaluate(INLINE_SCRIPT) == []


def test_the_front_page_points_to_the_admin_the_portal_and_the_docs(page, live_server, screenshot):
    response = page.goto(f"{live_server.url}/")
    assert response.status == 200
    assert page.title() == "Corrosion partner licensing"
    links = {page.get_attribute(f"#link-{name}", "href") for name in ("admin", "portal", "docs")}
    assert links == {"/admin/", "/portal/", "/api/docs/"}
    assert_no_inline_script(page)
    icon = page.get_attribute("link[rel=icon]", "href")
    with urllib.request.urlopen(f"{live_server.url}{icon}", timeout=10) as answer:
        assert answer.status == 200
    with urllib.request.urlopen(f"{live_server.url}/favicon.ico", timeout=10) as answer:
        assert (answer.status, answer.headers["Content-Type"]) == (200, "image/x-icon")
    screenshot("front-page")
    page.click("#link-admin")
    page.wait_for_selector("#id_username")
    assert "Corrosion administration" in page.inner_text("#site-name")


def test_the_index_is_branded_and_links_the_billing_pages(logged_in, live_server, screenshot):
    page = logged_in
    page.goto(f"{live_server.url}/admin/")
    assert page.inner_text("#site-name").strip() == "Corrosion administration"
    assert page.title() == "Partner licensing and billing | Corrosion admin"
    assert "Django" not in page.inner_text("body")
    assert page.get_attribute("link[rel=icon]", "href").startswith("/static/favicon")
    assert_no_inline_script(page)
    screenshot("index")
    page.click("#link-billing-overview")
    page.wait_for_selector("#revenue-chart")
    assert_no_inline_script(page)
    page.goto(f"{live_server.url}/admin/")
    page.click("#link-close-month")
    page.wait_for_selector("#close-month-form")
    assert_no_inline_script(page)


def _two_closable_months():
    """The latest closable month and the one before it, each with a billed server, neither closed."""
    latest = month_latest_closable()
    earlier = month_previous(latest)
    host, _ = host_create(company_name="Close Hosting", contact_email="ops@close.test", actor=Actor.command("t"))
    for month, server in ((earlier, "rust-old"), (latest, "rust-new")):
        HostLicenseFactory(host=host, server_identifier=server, provisioned_at=month_start(month) + timedelta(days=1))
    return month_format(latest), month_format(earlier)


def test_the_close_button_closes_the_previewed_month_never_the_one_typed_after(logged_in, live_server, screenshot):
    page = logged_in
    latest, earlier = _two_closable_months()
    page.goto(f"{live_server.url}/admin/billing/billingmonth/close/")
    page.fill("#id_month", latest)
    page.click("#preview-close")
    page.wait_for_selector("#close-summary")
    assert f"Preview of {latest}" in page.inner_text("#close-summary")
    assert page.get_attribute("#confirm-close", "value") == f"Close {latest} now"
    assert_no_inline_script(page)
    screenshot("1-preview")

    # Change the field, press the button that still names the previewed month.
    page.fill("#id_month", earlier)
    screenshot("2-field-changed")
    page.click("#confirm-close")
    page.wait_for_selector("#close-summary")
    assert not BillingMonth.objects.exists()  # neither month: the one typed was only previewed
    assert f"Preview of {earlier}" in page.inner_text("#close-summary")
    assert "Nothing was closed" in page.inner_text("ul.messagelist")
    assert page.get_attribute("#confirm-close", "value") == f"Close {earlier} now"
    screenshot("3-re-previewed")

    page.click("#confirm-close")
    page.wait_for_selector("ul.messagelist li.success")
    assert f"Closed {earlier}" in page.inner_text("#close-summary")
    assert [month_format(m) for m in BillingMonth.objects.values_list("month", flat=True)] == [earlier]
    screenshot("4-closed")


def _a_busy_program():
    """Rows as long as real ones get: long company names and e-mails, server ids, every status."""
    actor = Actor.command("tests")
    companies = [
        "Nordic Game Server Hosting Scandinavia AB",
        "Pacific Rim Dedicated & Cloud Servers Pty Ltd",
        "Très Grand Hébergement de Serveurs de Jeux SARL",
        "A" * 120,  # the longest one staff may meet often enough: it wraps, it does not scroll
    ]
    for n, company in enumerate(companies):
        host, _ = host_create(
            company_name=company,
            contact_email=f"billing-department-{n}@{company[:20].lower().replace(' ', '-')}-hosting.example",
            actor=actor,
        )
        api_key_issue(host=host, name="rotation key for the spring migration", actor=actor)
        host_update(host=host, wholesale_rate_usd="5.75", actor=actor)
        month = month_latest_closable()
        for i in range(3):
            host_license = HostLicenseFactory(
                host=host,
                server_identifier=f"rust-eu-north-frankfurt-{i:02d}-main-{n}",
                customer_email=f"a.very.long.customer.name.{i}@customer-domain-{n}.example",
                provisioned_at=month_start(month) + timedelta(days=2),
            )
        license_suspend(host_license=host_license, actor=actor)
    month_close(month=month_latest_closable(), actor=actor)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/hosts/host/",
        "/admin/hosts/hostapikey/",
        "/admin/licensing/hostlicense/",
        "/admin/billing/billingrecord/",
        "/admin/billing/billingmonth/",
        "/admin/audit/auditevent/",
    ],
    ids=lambda path: path.strip("/").replace("/", "-"),
)
def test_every_list_fits_a_1366_px_screen(logged_in, live_server, screenshot, path):
    page = logged_in
    _a_busy_program()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}{path}")
    page.wait_for_selector("#result_list")
    screenshot("1366")
    # The page, and the admin's own scrolling box around the table, which hides columns rather
    # than widen the page.
    for selector in ("html", "#changelist .results"):
        scroll_width, client_width = page.eval_on_selector(selector, "e => [e.scrollWidth, e.clientWidth]")
        assert scroll_width <= client_width, f"{path}: {selector} scrolls sideways, {scroll_width} > {client_width}"
    assert page.locator("#result_list tbody tr").count() >= 1
    assert_no_inline_script(page)
