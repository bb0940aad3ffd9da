"""Headers every response carries, whichever view made it (pages, the browsable API, admin, API docs).

A view may set a stricter Content-Security-Policy itself (the annotation pages do); this middleware only
fills in the policy where none was set, so no page goes out without one.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# Scripts, fonts and requests only from this origin; no plugins, no framing, no <base> rewriting. Images may
# also be data: URLs (the admin's and the API docs' icons). Inline styles are allowed here because the
# browsable API, Django admin and Swagger UI use them; inline scripts never are. Our own pages set a policy
# without inline styles themselves.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
