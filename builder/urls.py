from django.contrib.auth import views as auth_views
from django.urls import path

from builder.views import audience as audience_views
from builder.views import auth, editor, publish, sequences
from builder.views import importing as importing_views
from builder.views import review as review_views
from builder.views import schedule as schedule_views

urlpatterns = [
    path("login/", auth.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", sequences.sequence_list, name="sequence_list"),
    path("sequences/new/", sequences.sequence_new, name="sequence_new"),
    # Step editor (builder/views/editor.py)
    path("sequences/<int:sequence_id>/", editor.sequence_edit, name="sequence_edit"),
    path("sequences/<int:sequence_id>/name/", editor.sequence_rename, name="sequence_rename"),
    path("sequences/<int:sequence_id>/steps/add/", editor.step_add, name="step_add"),
    path("sequences/<int:sequence_id>/steps/cards/", editor.steps_cards, name="steps_cards"),
    path("sequences/<int:sequence_id>/steps/reorder/", editor.steps_reorder, name="steps_reorder"),
    path("sequences/<int:sequence_id>/steps/restore/", editor.step_restore, name="step_restore"),
    path(
        "sequences/<int:sequence_id>/steps/<int:step_id>/", editor.step_update, name="step_update"
    ),
    path(
        "sequences/<int:sequence_id>/steps/<int:step_id>/move/",
        editor.step_move,
        name="step_move",
    ),
    path(
        "sequences/<int:sequence_id>/steps/<int:step_id>/duplicate/",
        editor.step_duplicate,
        name="step_duplicate",
    ),
    path(
        "sequences/<int:sequence_id>/steps/<int:step_id>/remove/",
        editor.step_remove,
        name="step_remove",
    ),
    path(
        "sequences/<int:sequence_id>/steps/<int:step_id>/copy-template/",
        editor.step_copy_template,
        name="step_copy_template",
    ),
    path(
        "sequences/<int:sequence_id>/steps/<int:step_id>/templates/",
        editor.step_templates,
        name="step_templates",
    ),
    # Audience (builder/views/audience.py)
    path(
        "sequences/<int:sequence_id>/audience/",
        audience_views.sequence_audience,
        name="sequence_audience",
    ),
    path(
        "sequences/<int:sequence_id>/audience/checks/<int:check_id>/",
        audience_views.audience_check,
        name="audience_check",
    ),
    path(
        "sequences/<int:sequence_id>/audience/checks/<int:check_id>/cancel/",
        audience_views.audience_check_cancel,
        name="audience_check_cancel",
    ),
    path(
        "sequences/<int:sequence_id>/audience/checks/<int:check_id>/preview/",
        audience_views.audience_preview,
        name="audience_preview",
    ),
    path("sequences/<int:sequence_id>/publish/", publish.sequence_publish, name="sequence_publish"),
    path(
        "sequences/<int:sequence_id>/publish/progress/",
        publish.sequence_publish_progress,
        name="sequence_publish_progress",
    ),
    path(
        "sequences/<int:sequence_id>/export.json", publish.sequence_export, name="sequence_export"
    ),
    path(
        "sequences/<int:sequence_id>/publish/templates/<int:ownedtemplate_id>/shared/",
        publish.template_update_shared,
        name="template_update_shared",
    ),
    path(
        "sequences/<int:sequence_id>/publish/templates/<int:ownedtemplate_id>/overwrite/",
        publish.copy_drift_overwrite,
        name="copy_drift_overwrite",
    ),
    path(
        "sequences/<int:sequence_id>/publish/templates/<int:ownedtemplate_id>/keep/",
        publish.copy_drift_keep,
        name="copy_drift_keep",
    ),
    path("import/", importing_views.sequence_import, name="sequence_import"),
    path("import/close/", importing_views.sequence_import_close, name="sequence_import_close"),
    path("import/file/", importing_views.sequence_import_file, name="sequence_import_file"),
    path(
        "sequences/<int:sequence_id>/schedule/",
        schedule_views.sequence_schedule,
        name="sequence_schedule",
    ),
    path("templates/sync/", sequences.templates_sync, name="templates_sync"),
    # Review (builder/views/review.py)
    path(
        "sequences/<int:sequence_id>/review/",
        review_views.sequence_review,
        name="sequence_review",
    ),
    path(
        "sequences/<int:sequence_id>/review/submit/",
        review_views.sequence_submit,
        name="sequence_submit",
    ),
    path(
        "sequences/<int:sequence_id>/review/approve/",
        review_views.sequence_approve,
        name="sequence_approve",
    ),
    path(
        "sequences/<int:sequence_id>/review/request-changes/",
        review_views.sequence_request_changes,
        name="sequence_request_changes",
    ),
    path(
        "sequences/<int:sequence_id>/comments/",
        review_views.comment_add,
        name="sequence_comment_add",
    ),
    path(
        "sequences/<int:sequence_id>/comments/<int:comment_id>/resolve/",
        review_views.comment_resolve,
        name="sequence_comment_resolve",
    ),
    path(
        "sequences/<int:sequence_id>/history/",
        review_views.sequence_history,
        name="sequence_history",
    ),
    path(
        "sequences/<int:sequence_id>/revisions/<int:number>/",
        review_views.sequence_revision,
        name="sequence_revision",
    ),
    path(
        "sequences/<int:sequence_id>/revisions/<int:number>/restore/",
        review_views.sequence_revision_restore,
        name="sequence_revision_restore",
    ),
]
