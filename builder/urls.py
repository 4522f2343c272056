from django.contrib.auth import views as auth_views
from django.urls import path

from builder.views import publish, sequences

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", sequences.sequence_list, name="sequence_list"),
    path("sequences/new/", sequences.sequence_new, name="sequence_new"),
    path("sequences/<int:sequence_id>/", sequences.sequence_edit, name="sequence_edit"),
    path("sequences/<int:sequence_id>/publish/", publish.sequence_publish, name="sequence_publish"),
    path("templates/sync/", sequences.templates_sync, name="templates_sync"),
]
