"""The security headers every response carries (set in ``assistant.api.app``; 500s in ``errors``)."""

from __future__ import annotations

#: Content-Security-Policy of every response: scripts, styles, images and requests
#: only from this origin, no inline script or style, no plugins, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

#: Headers set on every response (a route may set its own first).
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
