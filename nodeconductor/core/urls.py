"""Routes of core: users, keys and token auth."""

from django.urls import path

from nodeconductor.core import auth, views

auth_urlpatterns = [
    path("password/", auth.PasswordLoginView.as_view(), name="auth-password"),
    path("logout/", auth.LogoutView.as_view(), name="auth-logout"),
]


def register_in(router):
    """Register core's viewsets on the one router (basenames are model names, as serializers expect)."""
    router.register("users", views.UserViewSet, basename="user")
    router.register("keys", views.SshPublicKeyViewSet, basename="sshpublickey")
