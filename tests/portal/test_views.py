"""The portal's page shell and assets: served at the root, self-contained (no CDN), strict CSP."""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

STATIC = Path(__file__).resolve().parents[2] / "nodeconductor" / "portal" / "static" / "portal"


@pytest.mark.django_db
def test_root_serves_the_shell(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert '<script type="module" src="/static/portal/js/main.js"></script>' in body
    assert '<link rel="stylesheet" href="/static/portal/portal.css">' in body
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "no-cache" in response["Cache-Control"]


def test_every_asset_is_ours():
    """No file of the portal loads anything from another origin, so it works with no internet access."""
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"main.js", "api.js", "dom.js", "portal.css", "favicon.svg"}
    for path in files:
        text = path.read_text()
        external = re.findall(r"https?://[^\s\"'`)]+", text)
        # Only the placeholder of the Keystone URL field and the SVG namespace look like URLs.
        assert set(external) <= {"http://keystone.example.com:5000/v3", "http://www.w3.org/2000/svg"}, (path, external)


def test_modules_import_only_our_modules():
    """Every import of every module resolves to a file of static/portal/js (a typo would break the page)."""
    for module in (STATIC / "js").rglob("*.js"):
        for target in re.findall(r'^import .* from "([^"]+)";$', module.read_text(), flags=re.M):
            assert target.startswith("."), (module, target)
            assert (module.parent / target).resolve().is_file(), (module, target)


def test_the_static_finder_serves_the_modules():
    """What collectstatic copies for whitenoise in production is what the page asks for."""
    for name in ("portal/js/main.js", "portal/js/views/instance.js", "portal/portal.css"):
        assert finders.find(name), name


@pytest.mark.django_db
def test_whitenoise_serves_the_collected_modules_as_javascript(settings, tmp_path, client):
    """Production (whitenoise after collectstatic) serves the modules with the MIME type browsers require."""
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--noinput", verbosity=0)
    first, *rest = settings.MIDDLEWARE
    settings.MIDDLEWARE = [first, "whitenoise.middleware.WhiteNoiseMiddleware", *rest]
    response = client.get("/static/portal/js/main.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"loadContext" in b"".join(response.streaming_content)
