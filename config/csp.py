"""The Content-Security-Policy the portal sends (settings.SECURE_CSP)."""

from django.utils.csp import CSP

# Content-Security-Policy (Django's own): scripts only from us, with a nonce for
# the few script tags templates emit; no inline styles or event handlers.
CSP_POLICY = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
