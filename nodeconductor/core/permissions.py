"""Permission helpers shared by every app: who is staff, and 403-versus-404 decisions."""

from rest_framework import exceptions, permissions


def is_staff(user):
    """True for authenticated staff; keeps the many `user.is_staff` checks anonymous-safe."""
    return bool(user and user.is_authenticated and user.is_staff)


def deny_unless(allowed, message="You do not have permission to perform this action."):
    """Raise 403 when a visible object may not be changed by the requester."""
    if not allowed:
        raise exceptions.PermissionDenied(message)


class CanManageObject(permissions.BasePermission):
    """Lets reads through and asks the view's `can_manage(user, obj)` before any write on an object.

    Visibility is the queryset's job (invisible objects are 404 before this runs); this decides the 403s.
    """

    def has_permission(self, request, view):
        """Only authenticated users reach the views that use this."""
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj):
        """Writes need the view's consent; reads of a visible object are always allowed."""
        if request.method in permissions.SAFE_METHODS:
            return True
        return view.can_manage(request.user, obj)
