"""Every response carries a Content-Security-Policy: the site's on pages, a closed one on the rest.

The browser tests (tests/browser/test_csp.py) show the pages work under it; these pin the header
itself and the docs page's markup.
"""

import re
from html.parser import HTMLParser

import pytest

from corrosion.security import NOT_A_PAGE_POLICY

pytestmark = pytest.mark.django_db

REQUIRED = [
    "default-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]


def directives(header):
    return {part.split()[0]: part.split()[1:] for part in header.split("; ")}


@pytest.mark.parametrize(
    ("path", "signed_in"),
    [("/admin/login/", False), ("/api/docs/", False), ("/admin/", True), ("/admin/hosts/host/", True)],
)
def test_every_page_carries_the_sites_policy(client, staff_user, path, signed_in):
    if signed_in:
        client.force_login(staff_user)
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    header = response["Content-Security-Policy"]
    for directive in REQUIRED:
        assert directive in header, (path, header)
    policy = directives(header)
    # Scripts from this origin only: no inline script, no eval, no other host.
    assert policy["script-src"] == ["'self'"]
    assert not any(re.match(r"https?:|\*", source) for sources in policy.values() for source in sources), header


def test_the_docs_page_adds_only_a_nonce_for_styles_and_what_redoc_needs(anon_client):
    policy = directives(anon_client.get("/api/docs/")["Content-Security-Policy"])
    assert policy["style-src"][0] == "'self'" and re.fullmatch(r"'nonce-[A-Za-z0-9+/=]+'", policy["style-src"][1])
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["worker-src"] == ["'self'", "blob:"]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_docs_page_runs_no_inline_script_and_loads_nothing_from_elsewhere(anon_client):
    response = anon_client.get("/api/docs/")
    html = response.content.decode()
    parser = _Tags()
    parser.feed(html)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts
    for attrs in scripts:
        # A script is a file of this site, or data (JSON the page's script reads), never inline code.
        assert attrs.get("src", "").startswith("/static/") or attrs.get("type") == "application/json", attrs
    urls = [attrs.get("src") or attrs.get("href") for _, attrs in parser.tags]
    assert not [url for url in urls if url and re.match(r"(https?:)?//", url)], urls
    assert not any(attrs.get("style") for _, attrs in parser.tags)
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert any(attrs.get("nonce") == nonce for attrs in scripts)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/healthz", 200), ("/api/host/licenses", 401), ("/api/nope", 404), ("/static/corrosion/docs.css", 200)],
)
def test_everything_else_carries_a_closed_policy(anon_client, path, status):
    response = anon_client.get(path)
    assert response.status_code == status
    assert response["Content-Security-Policy"] == NOT_A_PAGE_POLICY
