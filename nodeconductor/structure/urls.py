"""Routes of structure."""


def register_in(router):
    """Register structure's viewsets on the one router."""
