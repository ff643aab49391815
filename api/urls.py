"""The API's URLs, mounted at the site root by config/urls.py.

The API authenticates every call itself (token or session), so its views are
exempt from the portal's LoginRequiredMiddleware, which would otherwise answer a
token-only client with a redirect to the login page.
"""

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver

from api.api import api


def _exempt(patterns):
    for p in patterns:
        if isinstance(p, URLResolver):
            _exempt(p.url_patterns)
        elif isinstance(p, URLPattern):
            login_not_required(p.callback)
    return patterns


app_patterns, app_name, namespace = api.urls
urlpatterns = _exempt(list(app_patterns))
