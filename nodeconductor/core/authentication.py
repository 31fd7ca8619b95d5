"""The API token's authentication class and its revocation, apart from the views: DRF imports this module while
it loads its own views, so it must not import them back."""

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


def revoke_tokens(user, keep=None):
    """Delete the user's API tokens but `keep` (the token of the request that changed his own password)."""
    tokens = AuthToken.objects.filter(user=user)
    if isinstance(keep, AuthToken):
        tokens = tokens.exclude(digest=keep.digest)
    tokens.delete()
