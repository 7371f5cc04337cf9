"""Guessing staff passwords at the admin login is rate-limited per address (django-axes)."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


def attempt(client, password, address="203.0.113.7"):
    return client.post(LOGIN, {"username": "staff", "password": password}, REMOTE_ADDR=address)


def test_after_five_wrong_passwords_the_address_is_locked_out(client, settings):
    get_user_model().objects.create_superuser("staff", "staff@corrosion.test", "right-password-for-tests")
    assert all(attempt(client, f"wrong-{n}").status_code == 200 for n in range(settings.AXES_FAILURE_LIMIT - 1))
    assert attempt(client, "wrong-last").status_code == 429
    # Even the right password is refused from that address until the cool-off ends.
    assert attempt(client, "right-password-for-tests").status_code == 429
    # Staff elsewhere still get in.
    response = attempt(client, "right-password-for-tests", address="198.51.100.20")
    assert response.status_code == 302


def test_a_successful_login_resets_the_count(client, settings):
    get_user_model().objects.create_superuser("staff", "staff@corrosion.test", "right-password-for-tests")
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, f"wrong-{n}")
    assert attempt(client, "right-password-for-tests").status_code == 302
    client.logout()
    assert attempt(client, "wrong-again").status_code == 200
