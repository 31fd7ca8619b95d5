"""The one server-side view of the portal: the HTML shell that loads the static ES modules."""

from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView


class PortalView(TemplateView):
    """Serves the page shell; everything else is done in the browser through /api/ with a token."""

    template_name = "portal/index.html"

    def get(self, request, *args, **kwargs):
        """The shell with a strict Content-Security-Policy: only our own scripts, styles and API."""
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
        response["Referrer-Policy"] = "same-origin"
        return response


portal = never_cache(PortalView.as_view())
