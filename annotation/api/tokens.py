"""Token authentication with a lifetime (``API_TOKEN_TTL`` seconds from issue).

Kept apart from the token view: DRF imports authentication classes while loading ``rest_framework.views``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from annotation.api.prepared import prepared


def token_expiry(token: Token) -> datetime:
    return token.created + timedelta(seconds=settings.API_TOKEN_TTL)


def is_expired(token: Token) -> bool:
    return timezone.now() >= token_expiry(token)


def _token_with_user(key: str) -> QuerySet[Token]:
    return Token.objects.select_related("user").filter(key=key)


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing (and deleting) tokens past their lifetime.

    The token is read on every API request, so its query is prepared (compiled once per process); what is
    checked is DRF's own check, unchanged: the key exists, its user is active, and here its age.
    """

    def authenticate_credentials(self, key: str):
        found = prepared(("token-with-user",), _token_with_user, key=key)
        if not found:
            raise AuthenticationFailed(_("Invalid token."))
        token = found[0]
        user = token.user
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        if is_expired(token):
            token.delete()
            raise AuthenticationFailed("This token has expired; ask for a new one at /api/auth/token/.")
        return user, token
