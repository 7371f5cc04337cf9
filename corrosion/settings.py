"""Every setting comes from the environment (or a `.env` file), with a safe default.

With DEBUG off (the default) the secure settings are the defaults: given only SECRET_KEY and
ALLOWED_HOSTS, `manage.py check --deploy` is clean.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from corrosion.limits import parse_rate

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="insecure-local-development-key-never-use-in-production")
else:
    SECRET_KEY = env("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin with our site: branded, and its actions guarded (corrosion/admin_site.py).
    "corrosion.admin_site.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "axes",
    # The task engine behind the webhook worker: its schema comes with its Django migrations.
    "procrastinate.contrib.django",
    "audit",
    "hosts",
    "events",
    "licensing",
    "billing",
    "portal",
]

MIDDLEWARE = [
    "corrosion.logging.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corrosion.security.ContentSecurityPolicyMiddleware",
    "corrosion.api.middleware.JsonErrorMiddleware",
    "corrosion.api.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "corrosion.api.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "corrosion.urls"
WSGI_APPLICATION = "corrosion.wsgi.application"
# The heartbeat's one statement is prepared once per connection (licensing/services.py). Behind
# PgBouncer in transaction mode that needs PgBouncer 1.21+ with max_prepared_statements; turn it
# off with HEARTBEAT_PREPARED_STATEMENT=0 otherwise.
HEARTBEAT_PREPARED_STATEMENT = env.bool("HEARTBEAT_PREPARED_STATEMENT", default=True)
# Heartbeats commit without waiting for the disk (licensing/services.py says what that can lose).
HEARTBEAT_SYNCHRONOUS_COMMIT = env.bool("HEARTBEAT_SYNCHRONOUS_COMMIT", default=False)
# The heartbeat's WSGI route in front of Django's handler (corrosion/wsgi.py, licensing/plugin.py):
# the same answers without the middleware stack it does not need. HEARTBEAT_WSGI_ROUTE=0 serves it
# through the full stack (the benchmark's "before").
WSGI_ROUTES = (
    {"/api/plugin/heartbeat": "licensing.plugin.heartbeat_wsgi"}
    if env.bool("HEARTBEAT_WSGI_ROUTE", default=True)
    else {}
)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database and cache -------------------------------------------------------------------------

# procrastinate's migrations only on PostgreSQL (events/routers.py).
DATABASE_ROUTERS = ["events.routers.TaskEngineRouter"]
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A connection that died with the database is replaced on the next request, not reused broken.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction mode a cursor cannot outlive its transaction: turn this on there
# (streamed exports then read their rows in one piece; README, Scaling out).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
# No statement, and no wait for a lock or for the server's answer, takes longer than this: past it
# the request answers 503 with Retry-After instead of holding a worker thread (0: no limit, e.g. for a
# one-off command). Migrations run without it; close_billing_month sets its own.
DATABASE_STATEMENT_TIMEOUT_SECONDS = env.float("DATABASE_STATEMENT_TIMEOUT_SECONDS", default=10)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, plus the statement timeouts on both sides of the wire (corrosion/postgresql).
    DATABASES["default"]["ENGINE"] = "corrosion.postgresql"
    DATABASES["default"]["STATEMENT_TIMEOUT_SECONDS"] = DATABASE_STATEMENT_TIMEOUT_SECONDS
    connect_timeout = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    if DATABASE_STATEMENT_TIMEOUT_SECONDS:
        # Connecting is waiting for the database too (libpq waits at least 2 s).
        connect_timeout = min(connect_timeout, max(2, int(DATABASE_STATEMENT_TIMEOUT_SECONDS)))
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", connect_timeout)
    # A peer that vanished (host down, connection dropped by a firewall) is noticed in about 30 s
    # even while nothing is being sent, and unacknowledged data is given up on after 30 s.
    keepalive = {"keepalives": 1, "keepalives_idle": 15, "keepalives_interval": 5, "keepalives_count": 3}
    for name, value in {**keepalive, "tcp_user_timeout": 30_000}.items():
        DATABASES["default"]["OPTIONS"].setdefault(name, value)

# Rate-limit counters must be shared by every worker: Redis in production and CI. Local memory
# (per process) is only the newcomer's default.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://corrosion")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Internationalisation and time --------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The site's own files: favicon, the admin's and the front page's style sheet, the API docs page's script.
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security -----------------------------------------------------------------------------------

# The app runs behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Health checks come from the load balancer over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Every page loads only this origin's scripts, styles, images and fonts, and no inline script: an
# injected <script> or style never runs. Pages carry no inline script or style; the API docs page
# (Redoc) adds its own nonce for the styles it writes at run time (corrosion/api/docs.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        # Named, although default-src covers them, so a page's additions (a nonce) add to 'self'.
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
CSRF_FAILURE_VIEW = "corrosion.api.views.csrf_failure"

# --- Admin login: guessing passwords is rate-limited (django-axes, counted in the shared cache) ------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Counted in Redis when there is one (shared by every node); the newcomer's local-memory cache is
# per process, so without Redis the attempts are kept in the database instead.
AXES_HANDLER = (
    "axes.handlers.cache.AxesCacheHandler"
    if "redis" in CACHES["default"]["BACKEND"].lower()
    else "axes.handlers.database.AxesDatabaseHandler"
)
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
# Per address: locking by username alone would let anyone lock staff out by typing their names.
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "corrosion.api.throttling.client_address"
AXES_RESET_ON_SUCCESS = True
# The portal's sign-in says so on a page of its own; the admin's keeps axes' plain answer.
AXES_LOCKOUT_CALLABLE = "portal.views.locked_out"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- CORS: host endpoints are server-to-server; browsers only from listed origins ---------------

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"

# --- The product's own settings (see SPEC.md, Configuration) ------------------------------------

HOST_API_RATE_LIMIT = env("HOST_API_RATE_LIMIT", default="600/min")
HEARTBEAT_RATE_LIMIT = env("HEARTBEAT_RATE_LIMIT", default="12/min")
# Unknown license keys sent to the heartbeat, per client address, before it answers 429.
HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT = env("HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT", default="20/min")
# Failed host API authentications per client address before it answers 429.
AUTH_FAILURE_RATE_LIMIT = env("AUTH_FAILURE_RATE_LIMIT", default="30/min")
for _name in (
    "HOST_API_RATE_LIMIT",
    "HEARTBEAT_RATE_LIMIT",
    "HEARTBEAT_UNKNOWN_KEY_RATE_LIMIT",
    "AUTH_FAILURE_RATE_LIMIT",
):
    try:
        if parse_rate(globals()[_name])[0] < 1:
            raise ValueError(_name)
    except (ValueError, KeyError):
        raise ImproperlyConfigured(
            f"{_name} must read like 600/min (a count from 1, then s, min, hour or day)."
        ) from None
# Where the client's address is read for per-address limits: REMOTE_ADDR, or a header the TLS
# proxy sets itself (e.g. HTTP_X_REAL_IP); never a header a client can forge past the proxy.
CLIENT_IP_HEADER = env("CLIENT_IP_HEADER", default="REMOTE_ADDR")
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
ONLINE_WINDOW_MINUTES = env.int("ONLINE_WINDOW_MINUTES", default=10)
BILLING_GRACE_HOURS = env.int("BILLING_GRACE_HOURS", default=72)
# The highest wholesale rate staff may set; the database's own ceiling (hosts.models) is 100000.00.
MAX_WHOLESALE_RATE_USD = Decimal(env("MAX_WHOLESALE_RATE_USD", default="1000.00"))
if not Decimal("0") <= MAX_WHOLESALE_RATE_USD <= Decimal("100000.00"):
    raise ImproperlyConfigured("MAX_WHOLESALE_RATE_USD must be from 0.00 to 100000.00.")
PANEL_BASE_DOMAIN = env("PANEL_BASE_DOMAIN", default="panel.corrosion.gg")
# --- Partner portal and e-mail -----------------------------------------------------------------

# PUBLIC_BASE_URL, EMAIL_URL and DEFAULT_FROM_EMAIL are with the events' settings below.
PORTAL_INVITATION_HOURS = 72
LOGIN_URL = "portal:login"
# A password-reset link lives one hour: it is as good as the password while it lives.
PASSWORD_RESET_TIMEOUT = 3600

PLUGIN_DOWNLOAD_URL = env("PLUGIN_DOWNLOAD_URL", default="https://downloads.corrosion.gg/plugin/latest/Corrosion.cs")
# Invoices (billing/documents.py): issued by the month's close, due this many days after issue.
INVOICE_DUE_DAYS = env.int("INVOICE_DUE_DAYS", default=30)
if not 0 <= INVOICE_DUE_DAYS <= 3650:
    raise ImproperlyConfigured("INVOICE_DUE_DAYS must be from 0 to 3650.")
# The issuer printed on every invoice: its name, then its address lines, separated by "|" or new
# lines ("Corrosion Ltd|1 Harbour Street|Bristol BS1 4RN|United Kingdom"). Empty: the name alone,
# which `check --deploy` reports (billing/checks.py).
INVOICE_ISSUER = tuple(
    line.strip() for line in env("INVOICE_ISSUER", default="").replace("|", "\n").splitlines() if line.strip()
)
# Rows an invoice PDF lists; a bigger bill's PDF says how many servers it covers and the bill's CSV
# carries the rows, so the PDF stays small however many servers a host has.
INVOICE_PDF_MAX_LINES = env.int("INVOICE_PDF_MAX_LINES", default=1000)
if INVOICE_PDF_MAX_LINES < 0:
    raise ImproperlyConfigured("INVOICE_PDF_MAX_LINES must be 0 or more.")
# How stale an API key's last_used_at may get before a request writes it again.
API_KEY_LAST_USED_RESOLUTION_SECONDS = env.int("API_KEY_LAST_USED_RESOLUTION_SECONDS", default=300)

# --- Events, webhooks and e-mail (events/) ------------------------------------------------------

WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_MAX_AGE_HOURS = env.float("WEBHOOK_MAX_AGE_HOURS", default=72)
WEBHOOK_ENDPOINTS_PER_HOST = env.int("WEBHOOK_ENDPOINTS_PER_HOST", default=10)
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
# Deliveries and e-mails the worker runs at once: one slow receiver holds one slot, not the queue.
WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", default=8)
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="")
# Unset: e-mails are printed (the demo); `check --deploy` reminds production to set it.
EMAIL_URL = env("EMAIL_URL", default="")
vars().update(environ.Env.email_url_config(EMAIL_URL or "consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="billing@corrosion.gg")
# Tasks live in events/tasks.py and licensing/tasks.py, found by procrastinate's autodiscovery.
PROCRASTINATE_AUTODISCOVER_MODULE_NAME = "tasks"

# --- Django REST Framework ----------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["hosts.authentication.HostAPIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["corrosion.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "corrosion.api.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "corrosion.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["hosts.throttling.HostRateThrottle"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Corrosion partner licensing API",
    "DESCRIPTION": (
        "Provision and manage Corrosion licenses for the game servers you host, and read your bills.\n\n"
        "**Authentication.** Every `/api/host/` operation takes your API key as a bearer token: "
        "`Authorization: Bearer crn_<key id>_<secret>`. A missing, unknown or revoked key is 401. You only "
        "ever see your own licenses and bills: another host's license id is 404, like an unknown one.\n\n"
        "**Test mode.** A test key, `crn_test_<key id>_<secret>`, works on every operation exactly as a "
        "live key does, in a sandbox of your own: it provisions test licenses (`livemode: false`, "
        "license keys `CRN-TEST-...`), and sees only those, while a live key sees only live licenses: the "
        "other mode's license id is 404. A `server_id` is unique per mode. Heartbeats of test licenses "
        "are answered like live ones. Test licenses are never billed: with a test key, a month's bill is "
        "computed live from them with `status: test` and no invoice, and the bill list is empty.\n\n"
        "**Bodies.** Requests and answers are JSON (`Content-Type: application/json`), except the bill's "
        "CSV. Every error, on every endpoint, is the `Error` body: "
        '`{"error": {"code": "...", "message": "...", "fields": {...}}}`; branch on `code`.\n\n'
        "**Lists** are cursor-paginated: `results`, and `next` / `previous`, the URLs of the neighbouring "
        "pages or null. Follow a link as it is, or send its `cursor` query parameter as `cursor`.\n\n"
        "**Limits.** Requests over your rate limit, and repeated failed authentication from one address, "
        "are 429 with `Retry-After` (seconds). Retrying a provisioning call is safe: the same server, "
        "hostname and e-mail return the same license."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's JavaScript is served from our own static files: no CDN, works offline.
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_AUTHENTICATION": [],
    # The docs page (templates/api/docs.html) uses the system's fonts, not a font CDN's.
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"},
                "code": {"fontFamily": "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"},
            }
        },
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # Bodies drf-spectacular cannot derive, written out as named components (one type each in a
        # generated client), then the heartbeat (a plain Django view), then what every operation shares.
        "corrosion.api.schema.add_components",
        "licensing.schema.add_components",
        "licensing.schema.add_heartbeat",
        "corrosion.api.schema.add_shared_errors",
        "corrosion.api.schema.require_request_bodies",
    ],
    # Licenses and bills both have a "status": name each set of choices, or both get hashed names.
    # Named without drf-spectacular's "Enum" suffix: these are the names clients see.
    "ENUM_NAME_OVERRIDES": {
        "BillStatus": "billing.models.BillStatus",
        "LicenseStatus": "licensing.models.LicenseStatus",
        "InvoiceStatus": "billing.models.InvoiceStatus",
    },
}

# --- Logging: JSON lines on stdout, with the request id, secrets redacted ---------------------------

# Django's dictConfig, plus Python's warnings routed through the same JSON lines.
LOGGING_CONFIG = "corrosion.logging.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "corrosion.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "corrosion.logging.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Our request line replaces Django's own; its 4xx/5xx lines would say the same twice.
        "django.server": {"level": "WARNING"},
        "corrosion.request": {"level": env("REQUEST_LOG_LEVEL", default="INFO")},
        # The task engine announces every periodic task at each start; its warnings are what matter.
        "procrastinate": {"level": env("PROCRASTINATE_LOG_LEVEL", default="WARNING")},
    },
}
