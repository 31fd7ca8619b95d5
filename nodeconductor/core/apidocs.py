"""Swagger UI and ReDoc pages that load nothing from another host and run under a Content-Security-Policy."""

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from nodeconductor.core.middleware import HEADER

# ReDoc styles itself with styled-components, which inserts <style> elements at run time ('unsafe-inline' for
# styles; scripts stay 'self'), and runs its search in a worker made from a blob: URL.
REDOC_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI whose start-up script is a file of its own (the split view), so the default policy suffices."""

    template_name = "core/swagger_ui.html"


class RedocView(SpectacularRedocView):
    """ReDoc without the Google Fonts of drf-spectacular's template, under REDOC_POLICY."""

    template_name = "core/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        """The page, with the policy ReDoc needs instead of the default one."""
        response = super().get(request, *args, **kwargs)
        response[HEADER] = REDOC_POLICY
        return response
