"""Every HTML page runs under the Content-Security-Policy with nothing refused, and loads nothing
from another origin ("no CDN"): the API docs page and the admin, clicked through in Chromium.

Every request for another origin is aborted and recorded; the browser's CSP violation reports
(the `securitypolicyviolation` event, and the console errors Chromium prints for them) are
recorded too. A page passes when it renders, with both lists empty.
"""

from datetime import timedelta

import pytest

from audit.services import Actor
from billing.months import month_format, month_latest_closable, month_start
from billing.services import month_close
from tests.factories import HostAPIKeyFactory, HostFactory, HostLicenseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


class Watch:
    def __init__(self, page, origin):
        self.page, self.origin = page, origin
        self.outside, self.console_errors, self.violations = [], [], []
        page.context.route("**/*", self._route)
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        page.add_init_script(RECORD_VIOLATIONS)

    def _route(self, route):
        url = route.request.url
        if url == self.origin or url.startswith(self.origin + "/"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def visit(self, path, ready):
        """Open a page, wait for what shows it rendered, and collect what its policy refused."""
        response = self.page.goto(f"{self.origin}{path}")
        assert response.status == 200, (path, response.status)
        assert "default-src 'self'" in response.headers["content-security-policy"]
        self.page.wait_for_selector(ready)
        self.page.wait_for_load_state("networkidle")
        self.violations += self.page.evaluate("window.__violations")

    def assert_clean(self):
        assert self.outside == [], f"requests for another origin: {self.outside}"
        assert self.violations == [], f"CSP violations: {self.violations}"
        assert self.console_errors == [], f"console errors: {self.console_errors}"


@pytest.fixture
def watch(page, live_server):
    return Watch(page, live_server.url)


def _summaries(*operation_ids):
    """Each operation's summary, as the OpenAPI document says it (so the test follows the document)."""
    from django.test import Client

    document = Client().get("/api/schema/", {"format": "json"}).json()
    found = {
        operation["operationId"]: operation["summary"]
        for methods in document["paths"].values()
        for operation in methods.values()
    }
    return [found[operation_id] for operation_id in operation_ids]


def test_the_api_docs_render_from_this_server_alone_under_the_policy(watch, screenshot):
    page = watch.page
    provision, heartbeat, bills = _summaries("licenses_provision", "plugin_heartbeat", "billing_list")
    watch.visit("/api/docs/", f"h2:has-text('{provision}')")
    # The operations are there, rendered by Redoc from the OpenAPI document.
    assert page.locator("h1").first.inner_text().startswith("Corrosion partner licensing API")
    for summary in (provision, heartbeat, bills):
        assert page.locator(f"h2:has-text('{summary}')").first.is_visible(), summary
    # Search runs too (Redoc's search index lives in a worker).
    page.fill("input[placeholder='Search...']", "heartbeat")
    page.wait_for_selector(f"[data-role='search:results'] >> text={heartbeat}")
    screenshot("docs")
    watch.assert_clean()


def _login(watch):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("staff", "staff@corrosion.test", "staff-password-for-tests")
    watch.visit("/admin/login/", "#id_username")
    watch.page.fill("#id_username", "staff")
    watch.page.fill("#id_password", "staff-password-for-tests")
    watch.page.click("input[type=submit]")
    watch.page.wait_for_selector("#site-name")


def test_the_admin_runs_under_the_policy(watch, screenshot):
    month = month_latest_closable()
    for company, servers in (("Alpha Hosting", 3), ("Beta Hosting", 1)):
        host = HostFactory(company_name=company)
        HostAPIKeyFactory(host=host)
        for n in range(servers):
            HostLicenseFactory(
                host=host, server_identifier=f"rust-{n}", provisioned_at=month_start(month) + timedelta(1)
            )
    month_close(month=month, actor=Actor.command("tests"))

    _login(watch)
    watch.visit("/admin/", "#content-main")
    watch.visit("/admin/hosts/host/", "#result_list")
    watch.visit("/admin/licensing/hostlicense/?status__exact=active", "#result_list")
    watch.visit("/admin/hosts/hostapikey/", "#result_list")
    watch.visit("/admin/billing/billingrecord/", "#result_list")
    watch.visit("/admin/billing/billingmonth/overview/", "#revenue-chart g.bar")
    assert watch.page.locator(f"#revenue-chart title:text('{month_format(month)}: 4 servers, 24.00 USD')").count() == 1
    screenshot("overview")
    watch.visit("/admin/billing/billingmonth/close/", "#close-month-form")
    watch.page.click("#preview-close")
    watch.page.wait_for_selector("#close-summary")
    # A new host: its key is shown once, on a page of our own.
    watch.visit("/admin/hosts/host/add/", "#host_form")
    watch.page.fill("#id_company_name", "Policy Hosting")
    watch.page.fill("#id_contact_email", "ops@policy.test")
    watch.page.click("input[name=_save]")
    watch.page.wait_for_selector("#raw-api-key")
    assert watch.page.eval_on_selector("#raw-api-key", "e => getComputedStyle(e).userSelect") == "all"
    watch.violations += watch.page.evaluate("window.__violations")
    watch.assert_clean()
