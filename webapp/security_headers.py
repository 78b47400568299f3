"""Security headers on every response, through the `secure` library.

- Content-Security-Policy: the browser runs only the app's own scripts and styles (files under
  /static), never inline code (<script> blocks, onclick=, style=) or eval, so injected markup
  cannot run; it loads, fetches and posts only to this origin; and no page may be framed.
- X-Frame-Options: DENY, the same for browsers without frame-ancestors (clickjacking: another
  port of the same host is the same *site*, so the session cookie would go along).
- X-Content-Type-Options: nosniff; Referrer-Policy: same-origin (no URLs with search terms or
  record ids leave the intranet in a Referer).
- Strict-Transport-Security only where the app is served over HTTPS (SESSION_COOKIE_SECURE,
  on in production): an intranet installation over plain http must stay reachable.

To allow another source (say, images from a CDN), add it to the directive in
`content_security_policy`; never 'unsafe-inline' or 'unsafe-eval': move the code into
webapp/static/js/ and the styles into webapp/static/css/ instead.
"""

from __future__ import annotations

from flask import Flask, Response
from secure import (
    ContentSecurityPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)

SELF = "'self'"
NONE = "'none'"
HSTS_MAX_AGE_SECONDS = 365 * 24 * 60 * 60


def content_security_policy() -> ContentSecurityPolicy:
    """The policy of every page: only this origin, no inline code, never framed."""
    return (
        ContentSecurityPolicy()
        .default_src(SELF)
        .script_src(SELF)
        .style_src(SELF)
        .img_src(SELF, "data:")  # Pico CSS draws its icons as data: SVGs
        .connect_src(SELF)
        .form_action(SELF)
        .base_uri(SELF)
        .object_src(NONE)
        .frame_ancestors(NONE)
    )


def security_headers(https: bool) -> Secure:
    """All security headers; HSTS only when the app is served over HTTPS."""
    headers = Secure(
        csp=content_security_policy(),
        hsts=StrictTransportSecurity().max_age(HSTS_MAX_AGE_SECONDS) if https else None,
        referrer=ReferrerPolicy().same_origin(),
        xcto=XContentTypeOptions().nosniff(),
        xfo=XFrameOptions().deny(),
    )
    # A malformed value fails the app's start, not a browser's parsing of it later.
    return headers.validate_and_normalize_headers(on_invalid="raise", strict=True)


def init_app(app: Flask) -> None:
    """Add the headers to every response (pages, htmx fragments, errors, API, static files)."""
    headers = security_headers(https=bool(app.config["SESSION_COOKIE_SECURE"]))

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers.set_headers(response)
        return response
