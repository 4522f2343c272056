"""Django admin cannot skip review: state, approval, publication and Close ids are read-only
there; changes of state go through builder/review.py (and leave their entry in the log)."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from builder import publishing
from builder.models import CloseTemplate, PublishAttempt, Sequence, StateChange, Step
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

# Fields only the app's services may write (review.py, publishing.py, importing.py, sync).
PROTECTED = {
    Sequence: {
        "status",
        "approved_revision",
        "published_revision",
        "published_at",
        "published_by",
        "publishing_since",
        "close_id",
        "version",
    },
    Step: {"close_id"},
    CloseTemplate: {"close_id", "present_in_close", "synced_at"},
    PublishAttempt: {field.name for field in PublishAttempt._meta.fields},
}


@pytest.fixture
def staff(django_user_model, rf):
    """A staff member who may change sequences and steps in admin (not a superuser)."""
    user = make_user(django_user_model, "stan", "Editor", "Publisher")
    user.is_staff = True
    user.save()
    codenames = [
        f"{action}_{model}"
        for action in ("view", "change", "add", "delete")
        for model in ("sequence", "step", "schedulerange", "closetemplate", "publishattempt")
    ]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return django_user_model.objects.get(pk=user.pk)  # fresh: no cached permissions


def writable_fields(model_admin, request, obj):
    form = model_admin.get_form(request, obj)
    return set(form.base_fields)


def test_no_admin_form_or_inline_can_write_state_approval_publication_or_close_ids(
    staff, rf, example_sequence
):
    request = rf.get("/admin/")
    request.user = staff
    checked = set()
    for model, model_admin in admin.site._registry.items():
        if model not in PROTECTED and model._meta.app_label != "builder":
            continue
        obj = model.objects.first()
        if model_admin.has_change_permission(request, obj) or model_admin.has_add_permission(
            request
        ):
            writable = writable_fields(model_admin, request, obj)
            assert not writable & PROTECTED.get(model, set()), model.__name__
        for inline in model_admin.get_inline_instances(request, obj):
            formset = inline.get_formset(request, obj)
            writable = set(formset.form.base_fields)
            assert not writable & PROTECTED.get(inline.model, set()), inline.model.__name__
            checked.add(inline.model)
        checked.add(model)

    assert set(PROTECTED) <= checked


def admin_form_data(response):
    """What the browser would post back from an admin change page, unchanged."""
    data = {}
    adminform = response.context["adminform"].form
    for name, field in adminform.fields.items():
        value = adminform.initial.get(name, field.initial)
        data[name] = "" if value is None else value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        for form in formset.forms:
            for name, field in form.fields.items():
                value = form.initial.get(name, field.initial)
                if hasattr(value, "pk"):
                    value = value.pk
                if value is None or value is False:
                    continue
                data[form.add_prefix(name)] = value
    return data


def test_a_staff_member_cannot_approve_through_admin(client, staff, example_sequence, reviewer):
    sequence = example_sequence
    revision = sequence.revisions.order_by("-number").first()
    client.force_login(staff)
    url = reverse("admin:builder_sequence_change", args=[sequence.pk])
    page = client.get(url)
    assert page.status_code == 200
    data = admin_form_data(page) | {
        "status": Sequence.Status.APPROVED,
        "approved_revision": revision.pk,
        "close_id": "seq_forged",
        "published_revision": revision.pk,
    }

    response = client.post(url, data)

    assert response.status_code == 302, getattr(response, "context", None) and [
        form.errors for form in [response.context["adminform"].form]
    ]
    sequence.refresh_from_db()
    assert sequence.status == Sequence.Status.DRAFT
    assert sequence.approved_revision is None and sequence.published_revision is None
    assert sequence.close_id == ""
    assert not StateChange.objects.filter(sequence=sequence, to_status="approved").exists()
    refusal = publishing.publish_refusal(sequence=sequence, user=staff)
    assert "approved" in refusal.lower()


def test_step_close_ids_cannot_be_set_through_the_admin_inline(client, staff, example_sequence):
    client.force_login(staff)
    url = reverse("admin:builder_sequence_change", args=[example_sequence.pk])
    data = admin_form_data(client.get(url))
    prefix = next(key for key in data if key.endswith("-0-position")).removesuffix("position")
    data[f"{prefix}close_id"] = "seqstep_forged"

    assert client.post(url, data).status_code == 302
    assert not Step.objects.filter(close_id="seqstep_forged").exists()


def test_publish_attempts_are_a_log_admin_may_only_read(client, staff, example_sequence):
    request = type("Request", (), {"user": staff})()
    model_admin = admin.site._registry[PublishAttempt]

    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
