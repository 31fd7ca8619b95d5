"""IaaS instance endpoints."""


def register_in(router):
    """Register this module's viewsets."""
