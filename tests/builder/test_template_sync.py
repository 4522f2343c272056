import pytest

from builder.models import CloseTemplate
from builder.template_sync import sync_templates

pytestmark = pytest.mark.django_db


def test_sync_caches_every_template_with_its_flags(sandbox):
    result = sync_templates()

    email_count = len(sandbox.email_templates)
    sms_count = len(sandbox.sms_templates)
    assert (result.email, result.sms) == (email_count, sms_count)
    assert CloseTemplate.objects.filter(kind="email").count() == email_count
    assert CloseTemplate.objects.filter(kind="sms").count() == sms_count
    for template in sandbox.email_templates:
        cached = CloseTemplate.objects.get(close_id=template["id"])
        assert (cached.name, cached.subject, cached.is_shared, cached.is_archived) == (
            template["name"],
            template["subject"],
            template["is_shared"],
            template["is_archived"],
        )
    for template in sandbox.sms_templates:
        cached = CloseTemplate.objects.get(close_id=template["id"])
        assert cached.body == template["text"]
        assert cached.is_archived == (template["status"] == "archived")


def test_sync_pages_through_thousands_of_templates(sandbox):
    sandbox.add_email_templates(1234)

    result = sync_templates()

    assert result.email == len(sandbox.email_templates) >= 1234
    assert CloseTemplate.objects.filter(kind="email").count() == result.email


def test_resync_updates_changes_and_flags_templates_gone_from_close(sandbox):
    sync_templates()
    first = sandbox.email_templates[0]
    sandbox.update_template(first["id"], name="Renamed in Close")
    CloseTemplate.objects.create(close_id="tmpl_deleted_in_close", kind="email", name="Old")

    result = sync_templates()

    assert CloseTemplate.objects.get(close_id=first["id"]).name == "Renamed in Close"
    gone = CloseTemplate.objects.get(close_id="tmpl_deleted_in_close")
    assert gone.present_in_close is False
    assert result.vanished == 1
    assert "1 no longer exist in Close" in result.message
