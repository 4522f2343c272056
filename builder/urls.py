from django.contrib.auth import views as auth_views
from django.urls import path

from builder import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.sequence_list, name="sequence_list"),
    path("sequences/new/", views.sequence_new, name="sequence_new"),
    path("sequences/<int:sequence_id>/", views.sequence_edit, name="sequence_edit"),
    path("sequences/<int:sequence_id>/publish/", views.sequence_publish, name="sequence_publish"),
    path("templates/sync/", views.templates_sync, name="templates_sync"),
]
