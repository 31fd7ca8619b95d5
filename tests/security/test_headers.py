"""Finding 4 of issue 27: HTTPS, HSTS and a Content-Security-Policy on every HTML page; API docs without a CDN.

The HTTPS tests run with the security settings settings.production computes from its environment, applied to the
test settings, so they test what production really sets.
"""

import re
import runpy
from urllib.parse import urlsplit

import pytest
from django.conf import global_settings
from django.test import Client

from nodeconductor.core.apidocs import REDOC_POLICY
from nodeconductor.core.middleware import DEFAULT_POLICY
from tests import factories

pytestmark = pytest.mark.django_db

SECURITY_SETTINGS = (
    "MIDDLEWARE", "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "CSRF_TRUSTED_ORIGINS", "X_FRAME_OPTIONS", "SECURE_CONTENT_TYPE_NOSNIFF", "SECURE_REFERRER_POLICY",
)  # fmt: skip
PORTAL_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HTML = {"HTTP_ACCEPT": "text/html"}
ONE_YEAR = "max-age=31536000; includeSubDomains"


@pytest.fixture
def production(settings, monkeypatch, tmp_path):
    """Apply what settings.production sets for HTTPS and headers under `env`; returns the function."""

    def apply(**env):
        monkeypatch.setenv("SECRET_KEY", "x" * 60)
        monkeypatch.setenv("DATABASE_URL", "sqlite:///:memory:")
        monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
        monkeypatch.delenv("NODECONDUCTOR_SECURE_PROXY_SSL_HEADER", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        values = runpy.run_module("settings.production")
        for name in SECURITY_SETTINGS:
            # What production does not set is Django's default there.
            setattr(settings, name, values.get(name, getattr(global_settings, name)))
        # whitenoise as production runs it, finding the static files where collectstatic would take them from.
        settings.WHITENOISE_USE_FINDERS = True
        settings.STATIC_ROOT = tmp_path
        return values

    return apply


# ------------------------------------------------------------------------------- a CSP on every HTML page
@pytest.mark.parametrize(
    "path, status, policy, marker",
    [
        ("/", 200, PORTAL_POLICY, "portal/js/main.js"),
        ("/api/", 401, DEFAULT_POLICY, "Django REST framework"),
        ("/admin/login/", 200, DEFAULT_POLICY, 'name="username"'),
        ("/api/schema/swagger/", 200, DEFAULT_POLICY, 'id="swagger-ui"'),
        ("/api/schema/redoc/", 200, REDOC_POLICY, "<redoc spec-url="),
    ],
)
def test_every_html_page_has_a_content_security_policy(production, path, status, policy, marker):
    production()
    response = Client().get(path, secure=True, **HTML)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert marker in response.content.decode()
    assert response["Content-Security-Policy"] == policy
    assert "'unsafe-eval'" not in policy and "script-src 'self';" in policy
    assert response["Strict-Transport-Security"] == ONE_YEAR
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_browsable_api_of_a_signed_in_user_has_the_policy(production):
    production()
    client = Client()
    client.force_login(factories.UserFactory(is_staff=True))
    response = client.get("/api/users/", secure=True, **HTML)
    assert response.status_code == 200
    assert "User List" in response.content.decode()
    assert response["Content-Security-Policy"] == DEFAULT_POLICY


def test_json_answers_carry_no_policy(production):
    """The policy is for pages a browser renders; JSON is never rendered as a document."""
    production()
    response = Client().get("/api/", secure=True, HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert "Content-Security-Policy" not in response


def test_static_html_served_by_whitenoise_gets_the_policy(production):
    """whitenoise answers before the views; it sits after the policy middleware, so its HTML files are covered."""
    values = production()
    assert values["MIDDLEWARE"].index("whitenoise.middleware.WhiteNoiseMiddleware") > values["MIDDLEWARE"].index(
        "nodeconductor.core.middleware.ContentSecurityPolicyMiddleware"
    )
    response = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/oauth2-redirect.html", secure=True)
    assert response.status_code == 200
    assert b"oauth2-redirect.js" in b"".join(response.streaming_content)
    assert response["Content-Security-Policy"] == DEFAULT_POLICY


# ------------------------------------------------------------------------------- HTTPS
def test_hsts_is_sent_on_https_only(production):
    production(NODECONDUCTOR_SECURE_SSL_REDIRECT="false")
    secure = Client().get("/api/", secure=True, HTTP_ACCEPT="application/json")
    assert secure.status_code == 401
    assert secure["Strict-Transport-Security"] == ONE_YEAR
    plain = Client().get("/api/", HTTP_ACCEPT="application/json")
    assert plain.status_code == 401 and plain.json()["code"] == "not_authenticated"
    assert "Strict-Transport-Security" not in plain


def test_hsts_preload_and_subdomains_follow_the_environment(production):
    production(NODECONDUCTOR_SECURE_HSTS_PRELOAD="true", NODECONDUCTOR_SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
               NODECONDUCTOR_SECURE_HSTS_SECONDS="600")  # fmt: skip
    response = Client().get("/api/", secure=True, HTTP_ACCEPT="application/json")
    assert response["Strict-Transport-Security"] == "max-age=600; preload"


def test_plain_http_is_redirected_to_https(production):
    production()
    response = Client().get("/api/users/?page=2", HTTP_ACCEPT="application/json")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/api/users/?page=2"
    assert response.content == b""


def test_the_redirect_can_be_left_to_the_proxy(production):
    production(NODECONDUCTOR_SECURE_SSL_REDIRECT="false")
    response = Client().get("/api/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_the_proxy_header_makes_a_request_secure_when_configured(production):
    production(NODECONDUCTOR_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    response = Client().get("/api/", HTTP_ACCEPT="application/json", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert response["Strict-Transport-Security"] == ONE_YEAR
    # The proxy says http: Django redirects, as it does any plain request.
    response = Client().get("/api/", HTTP_ACCEPT="application/json", HTTP_X_FORWARDED_PROTO="http")
    assert response.status_code == 301 and response["Location"] == "https://testserver/api/"


def test_the_proxy_header_may_be_named_as_on_the_wire(production):
    values = production(NODECONDUCTOR_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert values["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_a_client_cannot_forge_https_when_no_proxy_is_configured(production):
    values = production()
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    response = Client().get("/api/", HTTP_ACCEPT="application/json", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301 and response["Location"] == "https://testserver/api/"
    assert "Strict-Transport-Security" not in response


def test_cookies_are_https_only(production):
    production()
    response = Client().get("/admin/login/", secure=True)
    assert response.status_code == 200
    assert response.cookies["csrftoken"]["secure"] is True


# ------------------------------------------------------------------------------- Swagger UI and ReDoc, no CDN
def referenced(html):
    """The src of every script and the href of every link of a page."""
    return re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html) + re.findall(r"<link[^>]*\bhref=\"([^\"]+)\"", html)


@pytest.mark.parametrize("path", ["/api/schema/swagger/", "/api/schema/redoc/"])
def test_api_docs_load_only_our_own_files_and_those_are_served(production, path):
    production()
    client = Client()
    response = client.get(path, secure=True)
    assert response.status_code == 200
    html = response.content.decode()
    urls = referenced(html)
    assert len(urls) >= (4 if "swagger" in path else 2), urls
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html), "a URL to another host"
    assert "fonts.googleapis" not in html and "cdn" not in html.lower()
    for url in urls:
        parts = urlsplit(url.replace("&amp;", "&"))
        assert not parts.scheme and not parts.netloc, url
        query = dict(pair.split("=", 1) for pair in parts.query.split("&") if pair)
        answer = client.get(parts.path, query, secure=True)
        assert answer.status_code == 200, url
        body = b"".join(answer.streaming_content) if answer.streaming else answer.content
        assert body, url
        kind = answer["Content-Type"]
        if parts.path.endswith(".css"):
            assert kind.startswith("text/css"), (url, kind)
        elif parts.path.endswith(".png"):
            assert kind == "image/png", (url, kind)
        else:
            assert "javascript" in kind, (url, kind)
