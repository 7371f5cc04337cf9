import os
import uuid

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from audit.services import Actor
from hosts.services import host_create
from tests.factories import licenses_in_mode


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    needing = [item for item in items if "postgres_only" in item.keywords]
    # CI sets REQUIRE_POSTGRES=1: there a PostgreSQL-only test that cannot reach PostgreSQL is a
    # failure, never a quiet skip that would let concurrency and locking go untested.
    if needing and os.environ.get("REQUIRE_POSTGRES") == "1":
        raise pytest.UsageError(
            f"REQUIRE_POSTGRES=1 but DATABASE_URL is not PostgreSQL: {len(needing)} PostgreSQL-only tests would skip."
        )
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    for item in needing:
        item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory):
    """Pages render as in production (DEBUG off, hashed static names), so collect static files once,
    into this session's own folder: override_settings tells Django's cached static storage that
    STATIC_ROOT changed (a plain assignment would not, and every xdist worker would then collect
    into the checkout's staticfiles/ at once, or over a `make bench`'s)."""
    from django.test.utils import override_settings

    override = override_settings(STATIC_ROOT=str(tmp_path_factory.mktemp("static")))
    override.enable()
    call_command("collectstatic", "--noinput", verbosity=0)
    yield
    override.disable()


@pytest.fixture(autouse=True)
def isolated_cache(settings):
    """Each test counts its rate limits under its own prefix, even in a shared Redis."""
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    for config in caches.values():
        config["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches
    # django-axes keeps its handler, and so the cache it was built with; build it anew.
    from axes.handlers.proxy import AxesProxyHandler

    AxesProxyHandler.implementation = None


@pytest.fixture
def frozen_clock():
    """The clock stopped in the middle of the current minute, so a rate-limit test never straddles a
    minute's turn by accident; move it with `frozen_clock.shift(seconds)` or `.move_to(moment)`."""
    middle = timezone.now().replace(second=30, microsecond=0)
    with time_machine.travel(middle, tick=False) as traveller:
        yield traveller


@pytest.fixture(params=["local memory", "redis"])
def rate_cache(request, settings):
    """Each rate-limit test runs on both stores the limits use: the process's own memory (no Redis
    configured) and Redis (CACHE_URL=redis://..., as in CI and production)."""
    config = dict(settings.CACHES["default"])
    if request.param == "local memory":
        config["BACKEND"] = "django.core.cache.backends.locmem.LocMemCache"
        config.pop("LOCATION", None)
        config.pop("OPTIONS", None)
    elif "redis" not in config["BACKEND"].lower():
        pytest.skip("needs Redis: set CACHE_URL=redis://... (CI does)")
    settings.CACHES = {**settings.CACHES, "default": config}
    return request.param


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def command_actor():
    return Actor.command("tests")


@pytest.fixture
def host_with_key(db, command_actor):
    """A host and the raw key of its first API key."""
    host, issued = host_create(company_name="Acme Hosting", contact_email="ops@acme.test", actor=command_actor)
    return host, issued.raw_key


@pytest.fixture
def host(host_with_key):
    return host_with_key[0]


@pytest.fixture
def api_key(host_with_key):
    return host_with_key[1]


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def host_client(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def other_host_client(db, command_actor):
    """A second host's client, for proving one host never sees another's data."""
    _, issued = host_create(company_name="Other Hosting", contact_email="ops@other.test", actor=command_actor)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    return client


@pytest.fixture(params=[True, False], ids=["live", "test"])
def livemode(request):
    """Run a test once per mode (SPEC: Test mode), where behaviour must match: factories build
    licenses in the mode, and `tests.modes.in_mode` gives the host's key of the mode."""
    with licenses_in_mode(request.param):
        yield request.param


@pytest.fixture
def staff_user(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("staff", "staff@corrosion.test", "staff-password-for-tests")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def support_client(client, db):
    """Staff who may look at everything but hold neither billing permission."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("support", "support@corrosion.test", "support-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    return client
