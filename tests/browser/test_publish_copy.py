"""A Publisher publishes a sequence whose copy is written in its steps: the page lists the
template requests before the sequence's, and copy someone changed in Close afterwards is shown
with the choice to overwrite it."""

import pytest
from playwright.sync_api import expect

from builder import publishing
from builder.models import OwnedTemplate, Sequence
from tests.browser.test_publish_flow import publisher_page
from tests.builder.copykit import written_draft
from tests.conftest import approve

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_written_copy_is_published_as_templates_then_drift_is_shown(
    browser, live_server, sandbox, user, reviewer, publisher
):
    sequence = approve(written_draft(user), reviewer)
    paul = publisher_page(browser, live_server)
    paul.goto(f"{live_server.url}/sequences/{sequence.pk}/publish/")

    requests = paul.get_by_role("list", name="Requests in the order they are sent")
    expect(
        paul.get_by_text("The exact requests: 3 templates to create, then the sequence")
    ).to_be_visible()
    expect(requests.get_by_role("heading", name="Create step 2's email template")).to_be_visible()
    expect(requests.get_by_role("button", name="Copy JSON")).to_have_count(4)
    paul.get_by_role("button", name="Publish to Close").click()

    paul.get_by_role("heading", name="Published to Close").wait_for()
    expect(paul.locator("#publish-progress")).to_contain_text(
        "Step templates: created for steps 2, 3 and 4."
    )
    assert len(sandbox.sequences) == 1

    # Someone rewrites step 2's body in Close; the next look at the page notices.
    row = OwnedTemplate.objects.get(sequence=sequence, kind="email", name__contains="step 2")
    sandbox.edit_template_copy(row.close_id, body="<div>Rewritten in Close.</div>")
    paul.reload()

    drift = paul.get_by_role("group", name="Step 2's copy was changed in Close")
    expect(drift).to_contain_text("Rewritten")
    drift.get_by_role("button", name="Overwrite on publish").click()
    expect(paul.get_by_text("Publishing will overwrite Close's version")).to_be_visible()
    assert OwnedTemplate.objects.get(pk=row.pk).overwrite_drift
    assert publishing.is_up_to_date(Sequence.objects.get(pk=sequence.pk))
