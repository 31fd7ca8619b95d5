"""A Content-Security-Policy on every HTML page that does not bring its own (admin, browsable API, API docs)."""

import base64
import hashlib

from django.conf import settings
from django.utils.html import conditional_escape
from rest_framework.compat import pygments_css
from rest_framework.renderers import BrowsableAPIRenderer

HEADER = "Content-Security-Policy"


def style_hash(text):
    """The CSP source that allows exactly one inline <style> element with this text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _browsable_api_style():
    """The hash of the one inline <style> the browsable API renders (Pygments' CSS, escaped as its template does)."""
    css = pygments_css(BrowsableAPIRenderer.code_style)
    return f" {style_hash(str(conditional_escape(css)))}" if css else ""


# Only our own scripts, styles, images, fonts and API; no plugins, no framing, forms post back to us. The admin needs
# nothing more; the browsable API renders one known <style> (allowed by its hash) and a few style attributes
# (float, width): style-src-attr lets attributes through, while <style> elements stay limited to 'self' and the hash.
DEFAULT_POLICY = (
    f"default-src 'self'; script-src 'self'; style-src 'self'{_browsable_api_style()}; "
    "style-src-attr 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class ContentSecurityPolicyMiddleware:
    """Adds DEFAULT_POLICY to text/html answers without a policy; a view that sets its own (the portal) keeps it."""

    def __init__(self, get_response):
        """Standard middleware set-up."""
        self.get_response = get_response

    def __call__(self, request):
        """Answer the request, then add the policy where an HTML page has none."""
        response = self.get_response(request)
        if HEADER in response or not response.get("Content-Type", "").startswith("text/html"):
            return response
        # Django's technical 404/500 pages (DEBUG only, never in production) are built of inline styles and scripts.
        if settings.DEBUG and response.status_code in (404, 500):
            return response
        response[HEADER] = DEFAULT_POLICY
        return response
