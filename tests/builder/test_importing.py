"""Import from Close and from JSON files; import → edit → republish round trip."""

import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from builder import close, copytext, importing, publishing, spec
from builder.models import CloseTemplate, Sequence, Step
from tests.builder.test_publishing import EXPECTED_PAYLOAD
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2, approve

pytestmark = pytest.mark.django_db

TASK_STEP = {
    "id": "seqstep_task0000000000000000001",
    "step_type": "task",
    "delay": 3600,
    "task_text": "Check LinkedIn",
    "required": True,
}


@pytest.fixture(autouse=True)
def quick(settings):
    settings.PUBLISH_SETTLE_SECONDS = 0.3
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0


@pytest.fixture
def in_close(sandbox):
    """A sequence someone made in Close's own UI, including a step type we do not model."""
    created = close.client_from_settings().create_sequence(
        {**EXPECTED_PAYLOAD, "name": "Live in Close", "status": "active"}
    )
    with sandbox._lock:  # Close's UI can add step types the API does not document
        sandbox._store.sequences[created["id"]]["steps"].insert(1, dict(TASK_STEP))
    return created["id"]


def text(response):
    return html.unescape(response.content.decode())


def sandbox_template(sandbox, template_id):
    return next(
        t for t in sandbox.email_templates + sandbox.sms_templates if t["id"] == template_id
    )


def upload(data, name="sequence.json"):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return SimpleUploadedFile(name, raw, content_type="application/json")


# --- from Close -------------------------------------------------------------------------------
def test_import_page_lists_closes_sequences(logged_in, in_close, sandbox):
    page = text(logged_in.get(reverse("sequence_import")))

    assert "Live in Close" in page and in_close in page
    assert 'aria-label="Import Live in Close"' in page


def test_the_list_page_links_to_import(logged_in):
    assert reverse("sequence_import") in text(logged_in.get(reverse("sequence_list")))


def test_import_from_close_creates_a_published_linked_copy(logged_in, user, in_close, sandbox):
    assert not CloseTemplate.objects.exists()

    response = logged_in.post(reverse("sequence_import_close"), {"close_id": in_close})

    sequence = Sequence.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sequence_edit", args=[sequence.pk])
    assert sequence.name == "Live in Close" and sequence.timezone == "America/Los_Angeles"
    assert sequence.close_id == in_close
    assert sequence.status == Sequence.Status.PUBLISHED
    assert publishing.is_up_to_date(sequence)
    assert sequence.created_by == user
    assert [
        (r.weekday, f"{r.start:%H:%M}", f"{r.end:%H:%M}") for r in sequence.schedule_ranges.all()
    ] == [(day, "09:00", "16:59") for day in range(1, 6)]
    stored = close.client_from_settings().fetch_sequence(in_close)
    steps = sequence.ordered_steps()
    assert [s.step_type for s in steps] == ["call", "task", "email", "email"]
    assert [s.close_id for s in steps] == [s["id"] for s in stored["steps"]]
    assert steps[1].extra["task_text"] == "Check LinkedIn"
    assert steps[2].email_template_id == EXAMPLE_EMAIL_1 and steps[2].threading == "new_thread"
    assert sequence.revisions.get().summary == f"Imported from Close ({in_close})"
    # The templates it uses were not cached yet, so the import synced them.
    assert (
        CloseTemplate.objects.filter(close_id__in=[EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2]).count() == 2
    )
    # The emails' copy was read from their templates: written here, the template ids kept.
    intro = sandbox_template(sandbox, EXAMPLE_EMAIL_1)
    assert (steps[2].content_source, steps[2].subject) == ("written", intro["subject"])
    assert steps[2].body == copytext.clean_body(intro["body"]) and "Hi {{ contact" in steps[2].body
    assert steps[3].content_source == "written" and steps[3].email_template_id == EXAMPLE_EMAIL_2
    owned = {row.step_key: row for row in sequence.owned_templates.all()}
    assert set(owned) == {str(steps[2].pk), str(steps[3].pk)}
    assert not any(row.created_by_us for row in owned.values())
    assert owned[str(steps[2].pk)].close_id == EXAMPLE_EMAIL_1
    # Nothing blocks: the kept task step is a note, and the follow-up's copy greets
    # "{{ contact.first_name }}" without a fallback (a warning, as for copy written here).
    assert [p.code for p in sequence.problems()] == ["step_type_kept", "merge_tag_no_fallback"]
    assert spec.blocking(sequence.problems()) == []
    page = text(logged_in.get(response["Location"]))
    assert "2 steps' copy read from their Close templates." in page


def test_importing_the_same_sequence_twice_is_refused(logged_in, in_close, sandbox):
    logged_in.post(reverse("sequence_import_close"), {"close_id": in_close})

    response = logged_in.post(reverse("sequence_import_close"), {"close_id": in_close})

    assert response.status_code == 409
    assert "already holds Close's sequence" in text(response)
    assert Sequence.objects.count() == 1
    page = text(logged_in.get(reverse("sequence_import")))
    assert "Already here" in page


@pytest.mark.parametrize(
    ("close_id", "status", "message"),
    [
        ("seq_doesNotExist123", 404, "Close has no sequence seq_doesNotExist123"),
        ("../me", 400, "not a Close sequence id"),
        ("", 400, "not a Close sequence id"),
    ],
)
def test_bad_close_ids_are_refused(logged_in, sandbox, close_id, status, message):
    response = logged_in.post(reverse("sequence_import_close"), {"close_id": close_id})

    assert response.status_code == status
    assert message in text(response)
    assert not Sequence.objects.exists()


def test_close_being_down_is_reported(logged_in, in_close, sandbox, settings):
    settings.CLOSE_MAX_WAIT_IN_REQUEST = 0.0
    sandbox.inject("error", status=503, method="GET", path=f"/sequence/{in_close}/")

    response = logged_in.post(reverse("sequence_import_close"), {"close_id": in_close})

    assert response.status_code == 502
    assert "Nothing was imported: Close is having trouble (HTTP 503)" in text(response)
    assert not Sequence.objects.exists()


def test_only_editors_import(client, viewer, in_close, sandbox):
    client.force_login(viewer)

    assert client.get(reverse("sequence_import")).status_code == 403
    assert client.post(reverse("sequence_import_close"), {"close_id": in_close}).status_code == 403
    response = client.post(reverse("sequence_import_file"), {"file": upload(EXPECTED_PAYLOAD)})
    assert response.status_code == 403
    assert not Sequence.objects.exists()


def test_import_edit_republish_round_trip(user, reviewer, publisher, in_close, sandbox):
    sequence, notes = importing.import_from_close(
        close_id=in_close, user=user, client=close.client_from_settings()
    )
    assert notes == []
    call, task, intro, follow_up = sequence.ordered_steps()
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Tune"):
        Step.objects.filter(pk=intro.pk).update(delay=2 * 86400)
        follow_up.delete()
        Step.objects.create(sequence=sequence, position=4, step_type="call", delay=600)
    approve(Sequence.objects.get(pk=sequence.pk), reviewer)

    outcome = publishing.publish_sequence(
        sequence=Sequence.objects.get(pk=sequence.pk), user=publisher
    )

    assert outcome.ok, outcome.message
    [put] = [r for r in sandbox.requests if r.method == "PUT"]
    assert [step.get("id") for step in put.body["steps"]] == [
        call.close_id,
        task.close_id,
        intro.close_id,
        None,
    ]
    assert put.body["steps"][1] == {"id": TASK_STEP["id"]}  # the task step, kept as it is
    assert put.body["steps"][2]["delay"] == 2 * 86400
    [stored] = sandbox.sequences
    assert stored["id"] == in_close
    assert [(s["id"], s["step_type"]) for s in stored["steps"]] == [
        (call.close_id, "call"),
        (TASK_STEP["id"], "task"),
        (intro.close_id, "email"),
        (stored["steps"][3]["id"], "call"),
    ]
    kept = stored["steps"][1]
    assert (kept["task_text"], kept["delay"], kept["required"]) == ("Check LinkedIn", 3600, True)
    assert stored["steps"][2]["delay"] == 2 * 86400 and stored["steps"][3]["delay"] == 600
    assert follow_up.close_id not in [s["id"] for s in stored["steps"]]
    published = Sequence.objects.get(pk=sequence.pk)
    assert published.status == Sequence.Status.PUBLISHED
    assert [s.close_id for s in published.ordered_steps()] == [s["id"] for s in stored["steps"]]


def test_an_imported_sequence_keeps_unmodelled_steps_in_its_update_payload(user, in_close, sandbox):
    sequence, _ = importing.import_from_close(
        close_id=in_close, user=user, client=close.client_from_settings()
    )

    payload = publishing.build_payload(sequence.to_spec(), action="update")

    assert payload["steps"][1] == {"id": TASK_STEP["id"]}
    assert [step["id"] for step in payload["steps"]] == [
        step.close_id for step in sequence.ordered_steps()
    ]


# --- files ------------------------------------------------------------------------------------
def test_export_then_import_a_file_round_trips(logged_in, example_sequence):
    exported = logged_in.get(reverse("sequence_export", args=[example_sequence.pk])).content
    # Its name is free again: a file naming a sequence that is here is offered as a copy
    # (test_import_name_taken.py).
    Sequence.objects.filter(pk=example_sequence.pk).update(name="The original")

    response = logged_in.post(
        reverse("sequence_import_file"), {"file": upload(exported, "my-sequence.json")}
    )

    copy = Sequence.objects.exclude(pk=example_sequence.pk).get()
    assert response.status_code == 302
    assert copy.status == Sequence.Status.DRAFT and copy.close_id == ""
    assert importing.export_payload(copy) == json.loads(exported) == EXPECTED_PAYLOAD
    assert copy.revisions.get().summary == "Imported from the file my-sequence.json"


def test_a_close_object_file_imports_unlinked(logged_in, in_close, sandbox):
    data = close.client_from_settings().fetch_sequence(in_close)
    data["steps"] = [step for step in data["steps"] if step["step_type"] != "task"]

    response = logged_in.post(reverse("sequence_import_file"), {"file": upload(data)})

    assert response.status_code == 302
    sequence = Sequence.objects.get()
    assert sequence.close_id == "" and all(not s.close_id for s in sequence.ordered_steps())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "The file is not valid JSON (line 1)"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[1, 2]", "This is not a sequence file: It must hold one JSON object"),
        (json.dumps({"name": "X", "timezone": "UTC", "steps": {"a": 1}}), "“steps” must be a list"),
        (json.dumps({"name": ["X"], "timezone": {}, "steps": []}), "“name” must be text."),
        (
            json.dumps({"name": "X", "timezone": "UTC", "steps": [], "schedule": [1]}),
            "“schedule” must be null or an object",
        ),
        (
            json.dumps(
                {"name": "X", "timezone": "UTC", "steps": [{"step_type": "call", "delay": "1"}]}
            ),
            "Step 1: “delay” must be a whole number of seconds.",
        ),
        (
            json.dumps({**EXPECTED_PAYLOAD, "timezone": "Mars/Olympus"}),
            '"Mars/Olympus" is not a time zone name.',
        ),
        (
            json.dumps(
                {
                    **EXPECTED_PAYLOAD,
                    "steps": [{"step_type": "call", "delay": -5, "required": True}],
                }
            ),
            "Step 1 cannot wait a negative time.",
        ),
        (
            json.dumps(
                {
                    **EXPECTED_PAYLOAD,
                    "schedule": {"ranges": [{"weekday": 9, "start": "09:00", "end": "17:00"}]},
                }
            ),
            "pick a day, Monday to Sunday",
        ),
        (json.dumps({**EXPECTED_PAYLOAD, "steps": []}), "Add at least one step."),
        (b"[" * 100_000 + b"]" * 100_000, "The file nests too deeply to be a sequence."),
    ],
)
def test_bad_files_are_400_and_create_nothing(logged_in, raw, message):
    raw = raw if isinstance(raw, bytes) else raw.encode()

    response = logged_in.post(reverse("sequence_import_file"), {"file": upload(raw)})

    assert response.status_code == 400
    assert message in text(response)
    assert not Sequence.objects.exists()


def test_a_file_over_the_size_limit_is_refused_unread(logged_in):
    big = json.dumps({**EXPECTED_PAYLOAD, "padding": "x" * (importing.MAX_FILE_BYTES + 1)})

    response = logged_in.post(reverse("sequence_import_file"), {"file": upload(big.encode())})

    assert response.status_code == 400
    assert "sequence files can be at most 256 KB" in text(response)
    assert not Sequence.objects.exists()


def test_a_missing_file_is_400(logged_in):
    response = logged_in.post(reverse("sequence_import_file"), {})

    assert response.status_code == 400
    assert "Choose a JSON file to import." in text(response)


def test_import_needs_csrf(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(reverse("sequence_import_file"), {"file": upload(EXPECTED_PAYLOAD)})

    assert response.status_code == 403
    assert not Sequence.objects.exists()


# --- Call steps are always required: one rule for both ways in -------------------------------
def test_a_call_marked_not_required_imports_the_same_from_close_and_from_a_file(logged_in, sandbox):
    payload = {**EXPECTED_PAYLOAD, "name": "Optional call", "status": "paused"}
    payload["steps"] = [{**EXPECTED_PAYLOAD["steps"][0], "required": False}, *payload["steps"][1:]]
    close_id = close.client_from_settings().create_sequence(payload)["id"]
    data = close.client_from_settings().fetch_sequence(close_id)
    assert data["steps"][0]["required"] is False
    note = (
        "Step 1 is a call marked not required; Close's call steps are always required, "
        "so it is required here."
    )

    from_close = logged_in.post(reverse("sequence_import_close"), {"close_id": close_id})
    shown = text(logged_in.get(from_close["Location"]))
    # The file carries the same data under a name of its own (a taken name is refused).
    from_file = logged_in.post(
        reverse("sequence_import_file"),
        {"file": upload({**data, "name": "Optional call from a file"}, "optional.json")},
    )

    imported, filed = Sequence.objects.order_by("pk")
    assert from_close.status_code == 302 and from_file.status_code == 302
    assert note in shown
    assert filed.revisions.get().summary == f"Imported from the file optional.json; {note}"
    for sequence in (imported, filed):
        assert sequence.ordered_steps()[0].required is True
        assert [p for p in sequence.problems() if p.path.startswith("steps.0")] == []
