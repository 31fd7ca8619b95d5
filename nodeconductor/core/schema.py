"""drf-spectacular extensions for the API's own conventions."""
