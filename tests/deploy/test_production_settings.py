"""Production settings, checked the way an operator would: `manage.py check --deploy` in a fresh process."""

import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


# What CI or another test may have set that an operator's production shell would not have.
_NOT_INHERITED = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DJANGO_SETTINGS_MODULE",
    "INVOICE_ISSUER",
}


def _manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "licensing.corrosion.example",
    "CSRF_TRUSTED_ORIGINS": "https://licensing.corrosion.example",
    "INVOICE_ISSUER": "Corrosion Ltd|1 Harbour Street|Bristol BS1 4RN",
    "PUBLIC_BASE_URL": "https://licensing.corrosion.example",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.corrosion.example:587",
}


def test_check_deploy_is_clean_with_the_documented_variables():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_reminds_of_a_missing_invoice_issuer_at_info_level_only():
    env = {k: v for k, v in PRODUCTION.items() if k != "INVOICE_ISSUER"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "billing.I001" in output and "INVOICE_ISSUER" in output
    assert "WARNING" not in output and "ERROR" not in output


def test_check_deploy_reminds_of_missing_e_mail_settings_without_failing():
    bare = {k: v for k, v in PRODUCTION.items() if k not in ("PUBLIC_BASE_URL", "EMAIL_URL")}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **bare)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "events.I001" in output and "events.I002" in output
    assert "WARNINGS" not in output and "ERRORS" not in output


def test_check_deploy_catches_a_weak_secret_key():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_without_a_secret_key_debug_off_refuses_to_start():
    result = _manage("check", **{k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_secure_defaults_hold_with_debug_off():
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS,"
        " s.SECURE_PROXY_SSL_HEADER, s.DEBUG)"
    )
    result = _manage("shell", "-c", code, **PRODUCTION)
    assert result.stdout.split("\n")[-2] == "True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') False"
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT)",
        **PRODUCTION,
        SECURE_SSL_REDIRECT="0",
    )
    assert result.stdout.strip().endswith("False")


def test_the_gunicorn_configuration_is_valid_and_sensible():
    config = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    assert config["worker_class"] == "gthread"
    assert config["workers"] == (os.cpu_count() or 1) + 1
    assert config["threads"] >= 2
    assert 10 <= config["timeout"] <= 60
    assert config["max_requests"] > 0 and config["max_requests_jitter"] > 0
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "corrosion.wsgi"],
        cwd=REPO,
        env={**os.environ, **PRODUCTION},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
