"""The API token's authentication class and its revocation, apart from the views: DRF imports this module while
it loads its own views, so it must not import them back."""

import contextlib
import contextvars

from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.models import AuthToken
from rest_framework import exceptions

INVALID_TOKEN = "Invalid token."


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token check (`Authorization: Token <token>`), with a token that is not UTF-8 a 401, not a 500."""

    def authenticate_credentials(self, token):
        """Refuse undecodable bytes as a wrong token before knox decodes them."""
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID_TOKEN) from None
        return super().authenticate_credentials(token)


_kept = contextvars.ContextVar("nodeconductor_kept_token", default=None)


@contextlib.contextmanager
def keeping(token):
    """Spare `token` (the token of the request that changes its own user's password) from the revocation that
    saving the new password makes inside the block."""
    reset = _kept.set(token)
    try:
        yield
    finally:
        _kept.reset(reset)


def revoke_on_password_change(user):
    """Revoke the user's API tokens but the one kept by `keeping`: called by User.save() with a new password,
    whoever set it (the API, the admin's forms, manage.py changepassword, the shell)."""
    revoke_tokens(user, keep=_kept.get())


def revoke_tokens(user, keep=None):
    """Delete the user's API tokens but `keep` (the token of the request that changed his own password)."""
    tokens = AuthToken.objects.filter(user=user)
    if isinstance(keep, AuthToken):
        tokens = tokens.exclude(digest=keep.digest)
    tokens.delete()
