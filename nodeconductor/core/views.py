"""Views shared by the whole API: JSON answers for 404 and 500 outside DRF."""

from django.http import JsonResponse


def not_found(request, exception=None):
    """Answer unknown URLs with the common error shape instead of an HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request):
    """Answer unexpected failures with the common error shape and no traceback."""
    return JsonResponse({"detail": "Internal server error."}, status=500)
