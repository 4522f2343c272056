from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView

from builder.views.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # One log-in form for everyone, the throttled one: admin's own form would be a second
    # door for password guessing. Staff log in there and come back to the admin.
    path(
        "admin/login/",
        login_not_required(RedirectView.as_view(pattern_name="login", query_string=True)),
        name="admin_login_redirect",
    ),
    path("admin/", admin.site.urls),
    path("", include("builder.urls")),
]
