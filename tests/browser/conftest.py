"""Headless Chromium (Debian's, not a downloaded one) driving the admin on a live server."""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# As the machine's notes advise: no background networking (the network is closed), no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(config, items):
    if not os.path.exists(CHROMIUM):
        skip = pytest.mark.skip(reason=f"needs {CHROMIUM}: apt-get install chromium (.ci/run does)")
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, but with static files served by the app's own WhiteNoise.

    The stock one serves /static/ from the finders, which do not know the hashed names the
    production storage writes; here the server answers exactly as gunicorn would.
    """
    import django.contrib.staticfiles.handlers as handlers
    from pytest_django.live_server_helper import LiveServer

    original = handlers.StaticFilesHandler
    handlers.StaticFilesHandler = lambda application: application
    try:
        server = LiveServer("localhost")
    finally:
        handlers.StaticFilesHandler = original
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name):
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def logged_in(page, live_server, transactional_db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("staff", "staff@corrosion.test", "staff-password-for-tests")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "staff-password-for-tests")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return page
