"""Each role sees exactly the buttons it may use, on every page, and the server still refuses
the hidden ones (issue 11, item 13)."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from builder import review
from builder.models import Sequence, Step
from tests.builder.reviewkit import cache_example_templates, edit, fresh
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2

pytestmark = pytest.mark.django_db

# The buttons (and button-styled links) each role may use on the pages below.
MAY_USE = {
    "editor": {
        "Sync templates",
        "Import from Close",
        "New sequence",
        "Submit for review",
        "Restore this revision",
    },
    "reviewer": {"Sync templates", "Approve", "Request changes"},
    "publisher": {"Sync templates", "Publish to Close"},
    "no role": set(),
}
EVERY_BUTTON = set().union(*MAY_USE.values())


def example(name, author):
    sequence = Sequence.create_draft(name=name, timezone_name="America/New_York", user=author)
    Step.objects.bulk_create(
        Step.close_example(sequence, first_email=EXAMPLE_EMAIL_1, second_email=EXAMPLE_EMAIL_2)
    )
    return sequence


@pytest.fixture
def world(user, reviewer, publisher, viewer):
    """A draft with an older revision, one in review and one approved, all by the editor."""
    cache_example_templates()
    draft = edit(example("Draft one", user), user, delay=2 * 86400)
    in_review = example("In review one", user)
    review.submit_for_review(sequence=in_review, user=user)
    approved = example("Approved one", user)
    review.submit_for_review(sequence=approved, user=user)
    approved = fresh(approved)
    review.approve(sequence=approved, user=reviewer, revision_number=approved.version)
    return {
        "people": {"editor": user, "reviewer": reviewer, "publisher": publisher, "no role": viewer},
        "pages": [
            reverse("sequence_list"),
            reverse("sequence_edit", args=[draft.pk]),
            reverse("sequence_review", args=[draft.pk]),
            reverse("sequence_revision", args=[draft.pk, 1]),
            reverse("sequence_history", args=[draft.pk]),
            reverse("sequence_edit", args=[in_review.pk]),
            reverse("sequence_review", args=[in_review.pk]),
            reverse("sequence_review", args=[approved.pk]),
            reverse("sequence_publish", args=[approved.pk]),
        ],
        "draft": draft,
        "in_review": fresh(in_review),
        "approved": fresh(approved),
    }


def buttons(html):
    """The labels of every button and button-styled link on the page."""
    found = re.findall(r"<button\b[^>]*>([^<]+)</button>", html)
    found += re.findall(r'<a class="button[^"]*"[^>]*>([^<]+)</a>', html)
    return {label.strip() for label in found}


@pytest.mark.parametrize("role", list(MAY_USE))
def test_each_role_sees_exactly_the_buttons_it_may_use(client, world, sandbox, role):
    client.force_login(world["people"][role])

    seen = set()
    for path in world["pages"]:
        response = client.get(path)
        assert response.status_code == 200, path
        seen |= buttons(response.content.decode()) & EVERY_BUTTON

    assert seen == MAY_USE[role]


def test_a_role_s_hidden_buttons_say_who_may_use_them(client, world, user, sandbox):
    client.force_login(user)

    html = client.get(reverse("sequence_review", args=[world["in_review"].pk])).content.decode()

    assert "Only Reviewers can approve or request changes." in html
    html = client.get(reverse("sequence_publish", args=[world["approved"].pk])).content.decode()
    assert "Only Publishers can publish to Close." in html


@pytest.mark.parametrize("role", list(MAY_USE))
def test_the_server_refuses_every_hidden_button(world, sandbox, role):
    client = Client(enforce_csrf_checks=False)
    client.force_login(world["people"][role])
    draft, in_review, approved = world["draft"], world["in_review"], world["approved"]
    attempts = {
        "Sync templates": lambda: client.post(reverse("templates_sync")),
        "Import from Close": lambda: client.get(reverse("sequence_import")),
        "New sequence": lambda: client.post(
            reverse("sequence_new"), {"name": "X", "timezone": "UTC"}
        ),
        "Submit for review": lambda: client.post(reverse("sequence_submit", args=[draft.pk])),
        "Restore this revision": lambda: client.post(
            reverse("sequence_revision_restore", args=[draft.pk, 1]), {"version": draft.version}
        ),
        "Approve": lambda: client.post(
            reverse("sequence_approve", args=[in_review.pk]), {"revision": in_review.version}
        ),
        "Request changes": lambda: client.post(
            reverse("sequence_request_changes", args=[in_review.pk]), {"comment": "No."}
        ),
        "Publish to Close": lambda: client.post(
            reverse("sequence_publish", args=[approved.pk]),
            {"status": "paused", "version": approved.version},
        ),
    }
    before = Sequence.objects.count()

    for label in EVERY_BUTTON - MAY_USE[role]:
        assert attempts[label]().status_code == 403, label

    assert Sequence.objects.count() == before
    assert fresh(draft).status == Sequence.Status.DRAFT
    assert fresh(in_review).status == Sequence.Status.IN_REVIEW
    assert fresh(approved).status == Sequence.Status.APPROVED
