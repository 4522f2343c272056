"""Every editor endpoint refuses what it must: no CSRF token, no Editor role, a stale page,
a step that is not this sequence's, a missing version. Always a 4xx, a visible message, and
nothing saved. Deliberate refusals follow the app's one convention (base.html's htmx-config):
422 for invalid input, 409 when the sequence changed under the page."""

import pytest
from django.test import Client
from django.urls import reverse

from builder.models import Sequence, Step
from tests.builder.editor_support import HTMX, card_data, edit_url, state_of, steps_of, url

pytestmark = pytest.mark.django_db


def _token_for(sequence):
    """A valid undo token: remove the last step as its editor would, then put it back."""
    from django.core import signing

    from builder.editing import UNDO_SALT

    return signing.dumps(
        {
            "sequence": sequence.pk,
            "position": 3,
            "step": {
                "pk": 987654,
                "step_type": "call",
                "delay": 0,
                "email_template_id": "",
                "sms_template_id": "",
                "threading": "",
                "required": True,
                "close_id": "",
                "extra": {},
            },
            "comments": [],
        },
        salt=UNDO_SALT,
        compress=True,
    )


def requests_for(sequence):
    """(name, url, valid POST data) for every mutating endpoint of the editor."""
    step = steps_of(sequence)[2]
    version = str(sequence.version)
    return [
        ("rename", url("sequence_rename", sequence), {"name": "Changed", "version": version}),
        ("update", url("step_update", sequence, step.pk), card_data(step, days="9")),
        ("add", url("step_add", sequence), {"step_type": "call", "version": version}),
        ("duplicate", url("step_duplicate", sequence, step.pk), {"version": version}),
        ("remove", url("step_remove", sequence, step.pk), {"version": version}),
        ("move", url("step_move", sequence, step.pk), {"direction": "up", "version": version}),
        (
            "reorder",
            url("steps_reorder", sequence),
            {"order": [s.pk for s in reversed(steps_of(sequence))], "version": version},
        ),
        (
            "restore",
            url("step_restore", sequence),
            {"token": _token_for(sequence), "version": version},
        ),
    ]


ENDPOINTS = ["rename", "update", "add", "duplicate", "remove", "move", "reorder", "restore"]


def request_named(sequence, name):
    return next(r for r in requests_for(sequence) if r[0] == name)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_each_endpoint_works_with_valid_input(logged_in, example_sequence, name):
    """The baseline the refusals below are measured against: the same request succeeds."""
    _, address, data = request_named(example_sequence, name)

    response = logged_in.post(address, data, **HTMX)

    assert response.status_code == 200
    assert Sequence.objects.get(pk=example_sequence.pk).version == 2


@pytest.mark.parametrize("name", ENDPOINTS)
def test_each_endpoint_needs_a_csrf_token(user, example_sequence, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    _, address, data = request_named(example_sequence, name)
    before = state_of(example_sequence)

    response = client.post(address, data, **HTMX)

    assert response.status_code == 403
    assert "CSRF verification failed" in response.content.decode()
    assert state_of(example_sequence) == before


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_each_endpoint_needs_the_editor_role(client, viewer, example_sequence, name, htmx):
    client.force_login(viewer)
    _, address, data = request_named(example_sequence, name)
    before = state_of(example_sequence)

    response = client.post(address, data, **(HTMX if htmx else {}))

    assert response.status_code == 403
    assert "Only Editors can change sequences" in response.content.decode()
    assert state_of(example_sequence) == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_each_endpoint_needs_a_login(client, example_sequence, name):
    _, address, data = request_named(example_sequence, name)
    before = state_of(example_sequence)

    response = client.post(address, data)

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert state_of(example_sequence) == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_each_endpoint_is_post_only(logged_in, example_sequence, name):
    _, address, _ = request_named(example_sequence, name)

    assert logged_in.get(address).status_code == 405


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_each_endpoint_refuses_a_stale_page_and_names_who_saved(
    logged_in, example_sequence, other_user, name, htmx
):
    _, address, data = request_named(example_sequence, name)
    bob = Client()
    bob.force_login(other_user)
    bob.post(url("sequence_rename", example_sequence), {"name": "Bob's", "version": "1"}, **HTMX)
    before = state_of(example_sequence)

    response = logged_in.post(address, data, **(HTMX if htmx else {}))

    html = response.content.decode()
    assert response.status_code == 409
    assert "bob saved this sequence at" in html
    assert "Their last change: Renamed “My Sequence” → “Bob&#x27;s”." in html
    assert ">Reload</button>" in html
    assert state_of(example_sequence) == before
    if htmx:
        # The page keeps its own version, so every later save is refused too until a reload.
        assert '<input type="hidden" id="editor-version" value="1">' in html


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("version", [None, "", "abc", "-1", "1.0", "9" * 30])
def test_each_endpoint_needs_the_page_version(logged_in, example_sequence, name, version):
    _, address, data = request_named(example_sequence, name)
    data = {key: value for key, value in data.items() if key != "version"}
    if version is not None:
        data["version"] = version
    before = state_of(example_sequence)

    response = logged_in.post(address, data, **HTMX)

    assert response.status_code == 422
    assert "The page did not say which version it shows" in response.content.decode()
    assert state_of(example_sequence) == before


@pytest.mark.parametrize("name", ["update", "duplicate", "remove", "move"])
@pytest.mark.parametrize("whose", ["unknown", "another sequence"])
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_step_endpoints_refuse_a_step_that_is_not_this_sequences(
    logged_in, example_sequence, user, name, whose, htmx
):
    if whose == "unknown":
        step_id = 999999
    else:
        other = Sequence.create_draft(name="Other", timezone_name="UTC", user=user)
        step_id = Step.objects.create(sequence=other, position=0, step_type="call").pk
    endpoint = {
        "update": "step_update",
        "duplicate": "step_duplicate",
        "remove": "step_remove",
        "move": "step_move",
    }[name]
    _, _, data = request_named(example_sequence, name)
    before = state_of(example_sequence)
    other_before = list(Step.objects.order_by("pk").values_list("pk", "position", "delay"))

    response = logged_in.post(
        url(endpoint, example_sequence, step_id), data, **(HTMX if htmx else {})
    )

    assert response.status_code == 409  # the page shows a step that is gone: state changed
    assert "That step is not in this sequence" in response.content.decode()
    assert state_of(example_sequence) == before
    assert list(Step.objects.order_by("pk").values_list("pk", "position", "delay")) == (
        other_before
    )


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("add", {"step_type": "fax"}, "Choose an email, call or SMS step."),
        ("add", {}, "Choose an email, call or SMS step."),
        ("add", {"step_type": "call", "position": "x"}, "That place in the list is not valid"),
        ("add", {"step_type": "call", "position": "-1"}, "That place in the list is not valid"),
        ("add", {"step_type": "call", "position": "4"}, "That place in the list does not exist"),
        ("move", {"direction": "sideways"}, "Move a step up or down."),
        ("move", {}, "Move a step up or down."),
    ],
)
def test_malformed_structure_requests_are_refused(logged_in, example_sequence, name, data, message):
    _, address, valid = request_named(example_sequence, name)
    before = state_of(example_sequence)

    response = logged_in.post(address, {"version": valid["version"], **data}, **HTMX)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert state_of(example_sequence) == before


def test_unknown_sequence_is_404(logged_in):
    assert logged_in.get("/sequences/999999/").status_code == 404
    assert logged_in.post("/sequences/999999/name/", {"name": "x", "version": "1"}).status_code == (
        404
    )


def test_a_refusal_is_shown_in_the_status_line_for_htmx(logged_in, example_sequence):
    response = logged_in.post(
        url("step_move", example_sequence, steps_of(example_sequence)[0].pk),
        {"direction": "up", "version": "1"},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert response["HX-Reswap"] == "none"
    # htmx swaps a 422 like a 200 (base.html's htmx-config): no header of our own is needed.
    assert "X-Editor-Fragments" not in response
    assert 'class="save-status is-error" role="status" hx-swap-oob="true"' in html
    assert "Not saved: Step 1 is already the first step." in html


def test_editing_an_approved_sequence_returns_it_to_draft_and_reloads(
    logged_in, example_sequence, user
):
    example_sequence.change_status(Sequence.Status.APPROVED, user=user)
    page = logged_in.get(edit_url(example_sequence)).content.decode()
    assert "your next change sends it back to Draft for a new review" in page

    response = logged_in.post(
        url("sequence_rename", example_sequence), {"name": "Changed", "version": "1"}, **HTMX
    )

    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"
    assert Sequence.objects.get(pk=example_sequence.pk).status == Sequence.Status.DRAFT
    assert "The sequence is back in Draft." in logged_in.get(edit_url(example_sequence)).text
