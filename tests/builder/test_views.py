import pytest
from django.test import Client
from django.urls import reverse

from builder.models import PublishAttempt, Sequence, Step
from tests.builder.formdata import edit_form_data
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2

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

    assert (
        client.post(edit_url(example_sequence), edit_form_data(example_sequence)).status_code == 403
    )
    assert client.post(reverse("sequence_publish", args=[example_sequence.pk])).status_code == 403
    assert client.post(reverse("templates_sync")).status_code == 403


def test_get_on_post_only_endpoints_is_405(logged_in, example_sequence):
    assert logged_in.get(reverse("sequence_publish", args=[example_sequence.pk])).status_code == 405
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
def test_edit_page_shows_steps_and_problems(logged_in, example_sequence):
    response = logged_in.get(edit_url(example_sequence))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'aria-label="Steps"' in html
    assert 'aria-label="Step 3"' in html
    # The cache is empty, so both email templates are unknown and block publishing.
    assert "2 problems block publishing" in html


def test_save_changes_name_delays_and_threading(logged_in, example_sequence, user):
    data = edit_form_data(example_sequence)
    data |= {"name": "Renamed", "steps-2-days": "5", "steps-2-hours": "2"}
    del data["steps-2-reply_in_thread"]

    response = logged_in.post(edit_url(example_sequence), data)

    assert response.status_code == 302
    example_sequence.refresh_from_db()
    steps = example_sequence.ordered_steps()
    assert example_sequence.name == "Renamed"
    assert example_sequence.version == 2
    assert example_sequence.updated_by == user
    assert steps[2].delay == 5 * 86400 + 2 * 3600
    assert steps[2].threading == "new_thread"


def test_first_email_step_is_forced_to_a_new_thread(logged_in, example_sequence):
    data = edit_form_data(example_sequence)
    data["steps-1-reply_in_thread"] = "on"

    logged_in.post(edit_url(example_sequence), data)

    assert [s.threading for s in example_sequence.ordered_steps()] == [
        "",
        "new_thread",
        "old_thread",
    ]


@pytest.mark.parametrize("step_type", ["email", "call", "sms"])
def test_add_step_appends_a_step_of_that_type(logged_in, example_sequence, step_type):
    data = edit_form_data(example_sequence) | {"add_step": step_type}

    response = logged_in.post(edit_url(example_sequence), data)

    assert response.status_code == 302
    steps = example_sequence.ordered_steps()
    assert len(steps) == 4
    assert steps[3].step_type == step_type
    assert steps[3].position == 3


def test_move_up_and_reapplies_threading(logged_in, example_sequence):
    data = edit_form_data(example_sequence) | {"move_up": "2"}

    logged_in.post(edit_url(example_sequence), data)

    steps = example_sequence.ordered_steps()
    assert [s.email_template_id for s in steps] == ["", EXAMPLE_EMAIL_2, EXAMPLE_EMAIL_1]
    # The reply that is now the first email step must start the thread; the moved step keeps
    # its own choice.
    assert [s.threading for s in steps] == ["", "new_thread", "new_thread"]


def test_remove_step(logged_in, example_sequence):
    data = edit_form_data(example_sequence) | {"steps-0-DELETE": "on"}

    logged_in.post(edit_url(example_sequence), data)

    assert [s.step_type for s in example_sequence.ordered_steps()] == ["email", "email"]
    assert [s.position for s in example_sequence.ordered_steps()] == [0, 1]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps-1-days", "-1", "greater than or equal to 0"),
        ("steps-1-days", "abc", "Enter a whole number"),
        ("steps-1-days", "366", "less than or equal to 365"),
        ("steps-1-minutes", "525600", "A delay can be at most 365 days"),
        ("steps-1-step_type", "fax", "Select a valid choice"),
        ("ranges-0-weekday", "8", "Select a valid choice"),
        ("ranges-0-start", "25:00", "Enter a valid time"),
        ("ranges-0-end", "08:00", "The start must be before the end"),
        ("timezone", "Nowhere/City", "is not a timezone Close knows"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_saved(
    logged_in, example_sequence, field, value, message
):
    before = [(s.step_type, s.delay) for s in example_sequence.ordered_steps()]
    data = edit_form_data(example_sequence) | {field: value, "name": "Should not be saved"}

    response = logged_in.post(edit_url(example_sequence), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert "Nothing was saved" in response.content.decode()
    example_sequence.refresh_from_db()
    assert example_sequence.name == "My Sequence"
    assert example_sequence.version == 1
    assert [(s.step_type, s.delay) for s in example_sequence.ordered_steps()] == before


@pytest.mark.parametrize("value", ["7", "x"])
def test_bad_move_index_is_400(logged_in, example_sequence, value):
    data = edit_form_data(example_sequence) | {"move_down": value}

    response = logged_in.post(edit_url(example_sequence), data)

    assert response.status_code == 400
    assert Sequence.objects.get(pk=example_sequence.pk).version == 1


def test_stale_edit_is_refused_with_who_changed_it(logged_in, example_sequence, other_user):
    stale = edit_form_data(example_sequence)
    other = Client()
    other.force_login(other_user)
    other.post(edit_url(example_sequence), edit_form_data(example_sequence) | {"name": "Bob's"})

    response = logged_in.post(edit_url(example_sequence), stale | {"name": "Alice's"})

    assert response.status_code == 409
    assert "bob saved this sequence" in response.content.decode()
    assert Sequence.objects.get(pk=example_sequence.pk).name == "Bob's"


def test_edit_page_query_count_does_not_grow_with_steps(
    logged_in, example_sequence, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        logged_in.get(edit_url(example_sequence))
    Step.objects.bulk_create(
        Step(sequence=example_sequence, position=i, step_type="call") for i in range(3, 50)
    )
    with CaptureQueriesContext(connection) as large:
        response = logged_in.get(edit_url(example_sequence))

    assert 'aria-label="Step 50"' in response.content.decode()
    assert len(large.captured_queries) == len(small.captured_queries)


# --- publish and sync ------------------------------------------------------------------------
def test_publish_view_publishes_and_links_to_close(logged_in, example_sequence, sandbox, synced):
    response = logged_in.post(reverse("sequence_publish", args=[example_sequence.pk]), follow=True)

    example_sequence.refresh_from_db()
    assert example_sequence.close_id
    assert any("Published to Close" in m for m in messages_of(response))
    assert example_sequence.close_url in response.content.decode()
    assert len(sandbox.sequences) == 1


def test_publish_view_shows_closes_refusal(logged_in, example_sequence, sandbox, synced):
    sandbox.update_template(EXAMPLE_EMAIL_1, is_archived=True)

    response = logged_in.post(reverse("sequence_publish", args=[example_sequence.pk]), follow=True)

    assert any("archived" in m for m in messages_of(response))
    assert sandbox.sequences == []
    assert PublishAttempt.objects.get().outcome == PublishAttempt.Outcome.REFUSED


def test_publish_view_refuses_a_sequence_with_problems(logged_in, example_sequence, sandbox):
    response = logged_in.post(reverse("sequence_publish", args=[example_sequence.pk]), follow=True)

    assert any("must be fixed before publishing" in m for m in messages_of(response))
    assert sandbox.requests == []


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
    response = client.post(edit_url(example_sequence), edit_form_data(example_sequence))
    assert response.status_code == 403
    assert "Only Editors can change sequences" in response.content.decode()
    assert client.post(reverse("sequence_new"), {"name": "X", "timezone": "UTC"}).status_code == 403
    assert Sequence.objects.count() == 1
