"""The Audience tab's views: who sees and may press what, CSRF, refusals with a clear message and
a 4xx, the polled fragment, Cancel, Preview as, and the publish page's headline."""

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from builder import audience
from builder.models import AudienceCheck
from tests.builder.test_audience import Q1, smart_view_id, written_sequence
from tests.conftest import approve

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def quick(settings, jobs_inline):
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0


def page_url(sequence):
    return reverse("sequence_audience", args=[sequence.pk])


def text_of(response):
    return html.unescape(response.content.decode())


def words_of(response):
    """The page's text without its tags."""
    return re.sub(r"<[^>]+>", "", text_of(response))


def start(client, sequence, sandbox, *, limit="200", view=None):
    return client.post(
        page_url(sequence), {"smart_view": view or smart_view_id(sandbox), "limit": limit}
    )


def test_the_tab_lists_smart_views_and_offers_the_check(logged_in, user, sandbox):
    sequence = written_sequence(user)
    response = logged_in.get(page_url(sequence))
    assert response.status_code == 200
    page = text_of(response)
    assert 'aria-current="page">Audience</a>' in page
    assert Q1 in page
    assert "Check audience" in page
    assert "Only this summary is stored; contact details are read from Close when you look" in page


def test_check_audience_shows_the_results(logged_in, user, sandbox):
    sequence = written_sequence(user)
    response = start(logged_in, sequence, sandbox)
    assert response.status_code == 302
    found = AudienceCheck.objects.get()
    assert response["Location"].endswith(f"?check={found.pk}")
    page = text_of(logged_in.get(response["Location"]))
    assert "empty for 12 of 40 contacts" in page
    assert "No email address" in page and "3 of 40 contacts" in page
    assert "not covered" in page
    assert '<svg class="audience-chart"' in page
    assert "style=" not in page.split('<svg class="audience-chart"')[1].split("</svg>")[0]


def test_a_viewer_sees_results_but_no_button_and_cannot_start_or_preview(
    client, user, viewer, sandbox
):
    sequence = written_sequence(user)
    as_editor = Client()
    as_editor.force_login(user)
    start(as_editor, sequence, sandbox)
    found = AudienceCheck.objects.get()
    client.force_login(viewer)
    page = text_of(client.get(page_url(sequence)))
    assert "empty for 12 of 40 contacts" in page
    assert "Check audience</button>" not in page
    assert "Preview as" not in page
    assert start(client, sequence, sandbox).status_code == 403
    preview = reverse("audience_preview", args=[sequence.pk, found.pk])
    assert client.get(preview, {"q": "a"}).status_code == 403
    cancel = reverse("audience_check_cancel", args=[sequence.pk, found.pk])
    assert client.post(cancel).status_code == 403
    assert AudienceCheck.objects.count() == 1


@pytest.mark.parametrize("role_fixture", ["reviewer", "publisher"])
def test_reviewers_and_publishers_may_check(client, user, sandbox, request, role_fixture):
    sequence = written_sequence(user)
    client.force_login(request.getfixturevalue(role_fixture))
    assert "Check audience</button>" in text_of(client.get(page_url(sequence)))
    assert start(client, sequence, sandbox).status_code == 302


def test_posts_need_the_csrf_token(user, sandbox):
    sequence = written_sequence(user)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert start(strict, sequence, sandbox).status_code == 403
    assert not AudienceCheck.objects.exists()


def test_an_unknown_smart_view_is_a_422_with_a_message(logged_in, user, sandbox):
    sequence = written_sequence(user)
    response = start(logged_in, sequence, sandbox, view="save_nope")
    assert response.status_code == 422
    assert "Close has no Smart View with that id" in text_of(response)
    assert not AudienceCheck.objects.exists()


@pytest.mark.parametrize("limit", ["0", "5001", "many", "-1"])
def test_a_limit_out_of_range_is_a_422_with_a_message(logged_in, user, sandbox, limit):
    sequence = written_sequence(user)
    response = start(logged_in, sequence, sandbox, limit=limit)
    assert response.status_code == 422
    assert "The limit must be a whole number from 1 to 5,000." in text_of(response)
    assert not AudienceCheck.objects.exists()


def test_no_smart_view_chosen_is_a_422(logged_in, user, sandbox):
    sequence = written_sequence(user)
    response = logged_in.post(page_url(sequence), {"smart_view": "", "limit": "200"})
    assert response.status_code == 422
    assert "Choose a Smart View" in text_of(response)


def test_a_check_of_another_sequence_is_a_404(logged_in, user, sandbox):
    first, second = written_sequence(user), written_sequence(user)
    start(logged_in, first, sandbox)
    found = AudienceCheck.objects.get()
    assert logged_in.get(page_url(second), {"check": found.pk}).status_code == 404
    url = reverse("audience_check", args=[second.pk, found.pk])
    assert logged_in.get(url, headers=HTMX).status_code == 404


def test_the_polled_fragment_follows_a_running_check_and_cancel_stops_it(logged_in, user):
    sequence = written_sequence(user)
    running = AudienceCheck.objects.create(
        sequence=sequence,
        revision_number=sequence.version,
        smart_view_id="save_x",
        smart_view_name=Q1,
        started_by=user,
        read_count=200,
        limit=1000,
        message="Read 200 contacts…",
    )
    url = reverse("audience_check", args=[sequence.pk, running.pk])
    fragment = text_of(logged_in.get(url, headers=HTMX))
    assert 'hx-trigger="every 1s"' in fragment
    assert '<progress value="200" max="1000"' in fragment
    assert "Cancel</button>" in fragment
    cancel = reverse("audience_check_cancel", args=[sequence.pk, running.pk])
    answer = text_of(logged_in.post(cancel, headers=HTMX))
    assert "Cancelling…" in answer
    assert AudienceCheck.objects.get(pk=running.pk).cancel_requested is True


def test_a_finished_check_reloads_the_page(logged_in, user, sandbox):
    sequence = written_sequence(user)
    start(logged_in, sequence, sandbox)
    found = AudienceCheck.objects.get()
    url = reverse("audience_check", args=[sequence.pk, found.pk])
    answer = logged_in.get(url, headers=HTMX)
    assert answer.headers["HX-Refresh"] == "true"


def test_preview_as_a_contact_searches_then_renders_every_step(logged_in, user, sandbox):
    sequence = written_sequence(user)
    start(logged_in, sequence, sandbox)
    found = AudienceCheck.objects.get()
    url = reverse("audience_preview", args=[sequence.pk, found.pk])
    named = next(c for c in _q1(sandbox) if " " in c["name"])
    results = logged_in.get(
        url, {"q": named["name"]}, headers=HTMX | {"HX-Target": "preview-results"}
    )
    assert results.status_code == 200
    assert named["name"] in text_of(results)
    assert f"?contact={named['id']}" in text_of(results)
    shown = text_of(logged_in.get(url, {"contact": named["id"]}, headers=HTMX))
    assert f"Hi {named['name'].split()[0]}" in shown
    assert "as it will read once published" in shown
    # Without htmx, the same request is the whole page with the preview in it.
    whole = text_of(logged_in.get(url, {"contact": named["id"]}))
    assert "<h1>" in whole and f"Hi {named['name'].split()[0]}" in whole


def _q1(sandbox):
    from tests.builder.test_audience import q1_contacts

    return [{"id": c["id"], "name": c.get("name") or "", "email": ""} for c in q1_contacts(sandbox)]


def test_preview_of_an_unknown_contact_is_a_422(logged_in, user, sandbox):
    sequence = written_sequence(user)
    start(logged_in, sequence, sandbox)
    found = AudienceCheck.objects.get()
    url = reverse("audience_preview", args=[sequence.pk, found.pk])
    response = logged_in.get(url, {"contact": "cont_nope"}, headers=HTMX)
    assert response.status_code == 422
    assert "Close could not find that contact" in text_of(response)


def test_the_publish_page_shows_the_last_check_of_the_revision(
    client, user, reviewer, publisher, sandbox
):
    sequence = approve(written_sequence(user), reviewer)
    client.force_login(publisher)
    publish_url = reverse("sequence_publish", args=[sequence.pk])
    page = words_of(client.get(publish_url))
    assert "No audience check for this revision yet — Check audience" in page
    audience.start_check(
        sequence=sequence, user=publisher, smart_view_id=smart_view_id(sandbox), limit=200
    )
    page = words_of(client.get(publish_url))
    assert "contact.first_name empty for 12 of 40 contacts (not covered)" in page
    assert "3 of 40 contacts have no email address" in page
    assert "See the audience check" in page
    form = text_of(client.get(publish_url)).split('class="publish-form"')[1]
    assert 'class="primary">Publish to Close</button>' in form  # informs, never blocks


def test_smart_views_close_cannot_list_say_so(logged_in, user, sandbox):
    sequence = written_sequence(user)
    sandbox.inject("error", path="/saved_search/", status=500, times=5)
    response = logged_in.get(page_url(sequence))
    assert response.status_code == 200
    assert "Could not list the Smart Views from Close: Close is having trouble (HTTP 500)" in (
        text_of(response)
    )
