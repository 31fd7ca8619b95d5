"""Routes of core: users, keys and token auth."""

auth_urlpatterns = []


def register_in(router):
    """Register core's viewsets on the one router."""
