from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import set_language

from config.metrics import metrics_view
from tenancy import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chargers:list", permanent=False), name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("chargers/", include("chargers.urls")),
    path("restarts/", include("restarts.urls")),
    path("", include("restarts.healing.urls")),
    path("", include("tenancy.urls_groups")),
    path("admin/", admin.site.urls),
    # The API last: Wallbox-compatible paths at the root, our own under api/v1/.
    path("", include(("api.urls", "api"), namespace="api")),
]
