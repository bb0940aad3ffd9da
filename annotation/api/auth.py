"""API tokens that expire and can be revoked, obtained through a throttled endpoint guarded by django-axes.

- ``POST /api/auth/token/`` {username, password}: the caller's token and when it expires. Unknown users and
  wrong passwords get one and the same 400; after ``AXES_FAILURE_LIMIT`` failures from one address for one
  username, axes refuses even the right password (403) until the cool-off ends; the endpoint is also
  throttled per client address (``API_TOKEN_RATE``).
- ``DELETE /api/auth/token/``: revokes the caller's token (a new POST issues a fresh one).
- ``ExpiringTokenAuthentication`` refuses tokens older than ``API_TOKEN_TTL`` seconds, and deletes them.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from annotation.api.tokens import ExpiringTokenAuthentication, is_expired, token_expiry


class TokenThrottle(ScopedRateThrottle):
    """Per client address, whoever the request claims to be (the scope's rate is ``API_TOKEN_RATE``)."""

    scope_attr = "throttle_scope"


LOCKED_OUT = (
    "Too many failed sign-ins for this user from this address: sign-in is refused until the cool-off period "
    "ends (or an admin resets it)."
)


class CredentialsSerializer(AuthTokenSerializer):
    """DRF's credentials check (one message for unknown users and wrong passwords), with bounded fields."""

    username = serializers.CharField(label="Username", max_length=150, write_only=True)
    password = serializers.CharField(
        label="Password",
        max_length=4096,
        style={"input_type": "password"},
        trim_whitespace=False,
        write_only=True,
    )


TokenAnswer = inline_serializer(
    "TokenAnswer", fields={"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
)


class TokenView(APIView):
    """Obtain (POST) or revoke (DELETE) the caller's API token."""

    throttle_scope = "auth-token"
    throttle_classes = [TokenThrottle]
    authentication_classes = [ExpiringTokenAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]
    serializer_class = CredentialsSerializer

    @extend_schema(request=CredentialsSerializer, responses={200: TokenAnswer})
    def post(self, request: Request) -> Response:
        serializer = CredentialsSerializer(data=request.data, context={"request": request})
        if not serializer.is_valid():
            # django-axes marks the request when this username was locked out from this address.
            if getattr(request, "axes_locked_out", False):
                return Response({"detail": LOCKED_OUT}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise ValidationError(serializer.errors)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        if is_expired(token):
            token.delete()
            token = Token.objects.create(user=serializer.validated_data["user"])
        return Response({"token": token.key, "expires_at": token_expiry(token)})

    @extend_schema(request=None, responses={204: OpenApiTypes.NONE})
    def delete(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            raise NotAuthenticated("Sign in (token or session) to revoke your token.")
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
