import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from builder.models import Sequence

pytestmark = pytest.mark.django_db


def edit_url(sequence):
    return reverse("sequence_edit", args=[sequence.pk])


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


# --- access ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sequence_list", "sequence_new"])
def test_pages_require_login(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_is_public(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b"Log in" in response.content


def test_unknown_sequence_is_404(logged_in):
    assert logged_in.get("/sequences/999999/").status_code == 404
    assert logged_in.get("/sequences/not-a-number/").status_code == 404


def test_mutations_need_csrf(user, example_sequence):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    rename = reverse("sequence_rename", args=[example_sequence.pk])
    assert client.post(rename, {"name": "X", "version": "1"}).status_code == 403
    assert client.post(reverse("sequence_publish", args=[example_sequence.pk])).status_code == 403
    assert client.post(reverse("templates_sync")).status_code == 403


def test_get_on_post_only_endpoints_is_405(logged_in, example_sequence):
    # GET on sequence_publish is the confirmation page (test_publish_views.py).
    assert logged_in.get(reverse("templates_sync")).status_code == 405


# --- list and new ----------------------------------------------------------------------------
def test_list_shows_sequences_with_step_counts(logged_in, example_sequence):
    response = logged_in.get(reverse("sequence_list"))

    assert response.status_code == 200
    row = next(s for s in response.context["sequences"] if s.pk == example_sequence.pk)
    assert row.step_count == 3
    assert b"My Sequence" in response.content


def test_new_sequence_creates_a_draft(logged_in, user):
    response = logged_in.post(
        reverse("sequence_new"), {"name": "Q3 outbound", "timezone": "Europe/Paris"}
    )

    sequence = Sequence.objects.get(name="Q3 outbound")
    assert response.status_code == 302
    assert response["Location"] == edit_url(sequence)
    assert sequence.created_by == user and sequence.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "timezone": "Europe/Paris"}, "This field is required"),
        ({"name": "X", "timezone": "Mars/Olympus"}, "is not a timezone Close knows"),
    ],
)
def test_new_sequence_refuses_bad_input(logged_in, data, message):
    response = logged_in.post(reverse("sequence_new"), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Sequence.objects.exists()


# --- edit ------------------------------------------------------------------------------------
# The step editor's tests are in test_editor.py, test_editor_steps.py and test_editor_refusals.py.


# --- sync ------------------------------------------------------------------------------------
# Publishing's view tests are in test_publish_views.py and test_publishing_faults.py.
def test_sync_button_syncs_and_redirects_back_only_to_this_site(logged_in, sandbox):
    response = logged_in.post(reverse("templates_sync"), {"next": "https://evil.example/"})

    assert response.status_code == 302
    assert response["Location"] == reverse("sequence_list")
    assert len(sandbox.requests) >= 2


def test_sync_button_reports_close_errors(logged_in, sandbox, settings):
    settings.CLOSE_API_KEY = "wrong-key-999"

    response = logged_in.post(reverse("templates_sync"), follow=True)

    text = " ".join(messages_of(response))
    assert "Templates were not synced" in text and "API key" in text
    assert "wrong-key-999" not in response.content.decode()


def test_member_without_editor_role_can_read_but_not_change(client, viewer, example_sequence):
    client.force_login(viewer)

    assert client.get(edit_url(example_sequence)).status_code == 200
    rename = reverse("sequence_rename", args=[example_sequence.pk])
    response = client.post(rename, {"name": "X", "version": "1"})
    assert response.status_code == 403
    assert "Only Editors can change sequences" in response.content.decode()
    assert client.post(reverse("sequence_new"), {"name": "X", "timezone": "UTC"}).status_code == 403
    assert Sequence.objects.count() == 1


def test_list_pages_fifty_at_a_time_and_keeps_the_filter(
    logged_in, user, django_assert_max_num_queries
):
    for number in range(120):
        Sequence.objects.create(name=f"Outbound {number:03}", created_by=user, updated_by=user)

    # A page's queries do not grow with its rows (8 today: session, user, roles, counts, the
    # page); 10 leaves room for a new count, none for a query per sequence.
    with django_assert_max_num_queries(10) as first_queries:
        first = logged_in.get(reverse("sequence_list"), {"q": "outbound"})
    with CaptureQueriesContext(connection) as last_queries:
        last = logged_in.get(reverse("sequence_list"), {"q": "outbound", "page": "3"})
    assert len(last_queries) == len(first_queries), "50 rows cost more queries than 20"
    nonsense = logged_in.get(reverse("sequence_list"), {"page": "x"})

    assert len(first.context["sequences"]) == 50
    assert "Page 1 of 3 · 120 sequences" in first.content.decode()
    assert "q=outbound&amp;page=2" in first.content.decode()
    assert len(last.context["sequences"]) == 20
    assert nonsense.status_code == 200 and nonsense.context["page"].number == 1


def test_list_search_by_name(logged_in, user, example_sequence):
    Sequence.objects.create(name="Webinar follow-up", created_by=user, updated_by=user)

    found = logged_in.get(reverse("sequence_list"), {"q": "webinar"})
    none = logged_in.get(reverse("sequence_list"), {"q": "<b>nothing</b>"})

    assert [s.name for s in found.context["sequences"]] == ["Webinar follow-up"]
    assert "No sequence name contains “&lt;b&gt;nothing&lt;/b&gt;”" in none.content.decode()
