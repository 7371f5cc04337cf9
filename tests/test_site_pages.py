"""The site's own pages: the front page, the favicon, and the admin pages we draw ourselves, all
without inline script or style (the Content-Security-Policy allows neither)."""

import re

import pytest

from audit.services import Actor
from tests.factories import HostFactory, HostLicenseFactory

pytestmark = pytest.mark.django_db

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>"),  # a script element without src
    re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE),  # an event handler attribute
    re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE),  # a style attribute
    re.compile(r"<style[\s>]", re.IGNORECASE),  # a style element
    re.compile(r"javascript:", re.IGNORECASE),
]


def assert_no_inline_code(html):
    for pattern in INLINE:
        assert not pattern.search(html), pattern.search(html).group(0)


def test_the_front_page_points_to_the_admin_the_portal_and_the_api_docs(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for target in ('href="/admin/"', 'href="/portal/"', 'href="/api/docs/"'):
        assert target in html
    assert re.search(r'<link rel="icon" href="/static/favicon\.[0-9a-f]+\.ico">', html)
    assert_no_inline_code(html)
    assert client.head("/").status_code == 200
    assert client.post("/").status_code == 405


def test_the_favicon_is_answered_at_the_root(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert "max-age=86400" in response["Cache-Control"]
    assert client.head("/favicon.ico").status_code == 200


@pytest.mark.usefixtures("staff_user")
def test_the_admin_pages_we_draw_have_the_icon_and_no_inline_code(staff_client):
    from hosts.services import host_create

    host, issued = host_create(company_name="Page Hosting", contact_email="ops@page.test", actor=Actor.command("t"))
    HostLicenseFactory(host=host)
    HostFactory()
    preview = staff_client.post("/admin/billing/billingmonth/close/", {"month": "2026-01", "preview": "1"})
    pages = {
        "/admin/": staff_client.get("/admin/"),
        "close (preview)": preview,
        "overview": staff_client.get("/admin/billing/billingmonth/overview/"),
        "key page": staff_client.get(f"/admin/hosts/host/{host.pk}/key/{issued.api_key.key_id}/"),
        "host list": staff_client.get("/admin/hosts/host/"),
        "license list": staff_client.get("/admin/licensing/hostlicense/"),
        "audit list": staff_client.get("/admin/audit/auditevent/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        assert '<link rel="icon" href="/static/favicon.' in html, name
        assert_no_inline_code(html)


def test_the_login_page_is_branded(client):
    html = client.get("/admin/login/").content.decode()
    assert "Corrosion administration" in html
    assert "Django" not in html


def _every_admin_action():
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        for action in ["delete_selected", *(model_admin.actions or [])]:
            name = action if isinstance(action, str) else action.__name__
            yield pytest.param(model, name, id=f"{model._meta.label}.{name}")


@pytest.mark.parametrize(("model", "action"), list(_every_admin_action()))
@pytest.mark.parametrize("selected", ["not-a-uuid", "99999999999999999999", "-1", "\x00", "1.5"])
def test_every_admin_action_answers_a_selection_that_is_no_id_without_a_500(staff_client, model, action, selected):
    from django.urls import reverse

    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for post in ({}, {"post": "yes"}):
        response = staff_client.post(url, {"action": action, "_selected_action": [selected], "index": "0", **post})
        assert response.status_code in (200, 302), (url, action, response.status_code)
