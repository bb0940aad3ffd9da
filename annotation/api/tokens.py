"""Token authentication with a lifetime (``API_TOKEN_TTL`` seconds from issue).

Kept apart from the token view: DRF imports authentication classes while loading ``rest_framework.views``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def token_expiry(token: Token) -> datetime:
    return token.created + timedelta(seconds=settings.API_TOKEN_TTL)


def is_expired(token: Token) -> bool:
    return timezone.now() >= token_expiry(token)


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing (and deleting) tokens past their lifetime."""

    def authenticate_credentials(self, key: str):
        user, token = super().authenticate_credentials(key)
        if is_expired(token):
            token.delete()
            raise AuthenticationFailed("This token has expired; ask for a new one at /api/auth/token/.")
        return user, token
