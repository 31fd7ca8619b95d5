"""Routes of iaas."""


def register_in(router):
    """Register iaas's viewsets on the one router."""
