"""Review emails: who gets which, what they say, and that a broken mail server breaks nothing."""

import pytest
from django.core import mail

from builder import notifications, review
from builder.models import Sequence
from tests.builder.reviewkit import fresh
from tests.conftest import make_user, mark_published

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_reviewer(django_user_model):
    return make_user(django_user_model, "ravi", "Reviewer")


def _by_recipient(outbox):
    return {message.to[0]: message for message in outbox}


def test_submit_emails_every_reviewer_but_not_the_submitter(
    valid, user, reviewer, second_reviewer, publisher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        review.submit_for_review(sequence=valid, user=user)

    sent = _by_recipient(mail.outbox)
    assert set(sent) == {"rita@example.com", "ravi@example.com"}
    message = sent["rita@example.com"]
    assert message.subject == "[Sequence Builder] Review requested: My Sequence"
    assert f"alice submitted “My Sequence” (revision {fresh(valid).version})" in message.body
    assert f"http://127.0.0.1:8000/sequences/{valid.pk}/review/" in message.body
    assert message.from_email == "Sequence Builder <sequence-builder@localhost>"


def test_approve_emails_the_author_and_submitter(
    valid, user, other_user, reviewer, django_capture_on_commit_callbacks
):
    review.submit_for_review(sequence=valid, user=other_user)  # bob submits alice's draft
    mail.outbox.clear()
    sequence = fresh(valid)

    with django_capture_on_commit_callbacks(execute=True):
        review.approve(sequence=sequence, user=reviewer, revision_number=sequence.version)

    # bob recorded the submitted revision (the fixture's steps had none) and submitted it.
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]
    assert mail.outbox[0].subject == "[Sequence Builder] Approved: My Sequence"
    assert "rita approved revision 2 of “My Sequence”" in mail.outbox[0].body


def test_request_changes_emails_the_comment(
    valid, user, reviewer, django_capture_on_commit_callbacks
):
    review.submit_for_review(sequence=valid, user=user)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        review.request_changes(
            sequence=fresh(valid), user=reviewer, comment="Wait two days, not one."
        )

    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    assert message.subject == "[Sequence Builder] Changes requested: My Sequence"
    assert "Wait two days, not one." in message.body


def test_published_emails_author_and_approver_not_the_publisher(
    valid, user, reviewer, publisher, django_capture_on_commit_callbacks
):
    review.submit_for_review(sequence=valid, user=user)
    review.approve(sequence=fresh(valid), user=reviewer, revision_number=fresh(valid).version)
    sequence = fresh(valid)
    mark_published(sequence, close_sequence={"id": "seq_42", "steps": []}, user=publisher)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        notifications.notify_published(fresh(valid), publisher)

    sent = _by_recipient(mail.outbox)
    assert set(sent) == {"alice@example.com", "rita@example.com"}
    assert "paul published “My Sequence” to Close as seq_42." in sent["rita@example.com"].body


def test_nobody_is_emailed_about_their_own_action_or_without_an_address(
    valid, user, reviewer, django_capture_on_commit_callbacks
):
    type(reviewer).objects.filter(pk=reviewer.pk).update(email="")

    with django_capture_on_commit_callbacks(execute=True):
        review.submit_for_review(sequence=valid, user=user)

    assert mail.outbox == []


def test_no_email_when_the_transition_is_rolled_back(valid, user, reviewer):
    # Inside the test's transaction nothing has committed yet: nothing is sent.
    review.submit_for_review(sequence=valid, user=user)

    assert mail.outbox == []


def test_a_name_with_a_line_break_stays_one_subject_line(
    valid, user, reviewer, django_capture_on_commit_callbacks
):
    Sequence.objects.filter(pk=valid.pk).update(name="Q3\nBcc: everyone@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        review.submit_for_review(sequence=fresh(valid), user=user)

    (message,) = mail.outbox
    assert message.subject == "[Sequence Builder] Review requested: Q3 Bcc: everyone@example.com"
    assert message.bcc == []


def test_a_failing_mail_server_does_not_undo_the_review(
    valid, user, reviewer, settings, django_capture_on_commit_callbacks, caplog
):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }

    with django_capture_on_commit_callbacks(execute=True):
        review.submit_for_review(sequence=valid, user=user)

    assert fresh(valid).status == Sequence.Status.IN_REVIEW
    assert "Could not send 1 email(s)" in caplog.text


def test_email_url_configures_smtp(monkeypatch):
    """EMAIL_URL is read into Django 6.1's MAILERS (console by default)."""
    import importlib

    import sequence_builder.settings as project_settings

    monkeypatch.setenv("DEBUG", "true")
    monkeypatch.setenv("EMAIL_URL", "smtp+tls://mailer:secret@smtp.example.com:587")
    try:
        configured = importlib.reload(project_settings)
        default = configured.MAILERS["default"]
        assert default["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
        assert default["OPTIONS"] == {
            "host": "smtp.example.com",
            "port": 587,
            "username": "mailer",
            "password": "secret",
            "use_tls": True,
            "timeout": 10.0,
        }
        monkeypatch.delenv("EMAIL_URL")
        configured = importlib.reload(project_settings)
        assert configured.MAILERS["default"] == {
            "BACKEND": "django.core.mail.backends.console.EmailBackend",
            "OPTIONS": {},
        }
    finally:
        monkeypatch.undo()
        importlib.reload(project_settings)
