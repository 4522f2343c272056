"""The step registry (builder/steps.py) and the one mapping between spec values and step rows.

The round trip walks every field of spec.Step through every path that turns values into rows
again, so a new field that one path forgets fails here, naming the path and the field.
"""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from builder import close, copytext, diff, importing, review, spec, steps
from builder.forms import AddStepForm
from builder.models import Sequence, Step
from closesandbox.seed import DOC_TEMPLATE_FOLLOW_UP, DOC_TEMPLATE_INTRO
from tests.builder.editor_support import post, steps_of
from tests.builder.test_importing_copy import seed_template

SHARED_SMS = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"  # seeded, shared, active
TASK_STEP = {
    "id": "seqstep_task0000000000000000077",
    "step_type": "task",
    "delay": 5400,
    "task_text": "Look them up on LinkedIn",
    "required": True,
}

# Every field of spec.Step has a value other than its default on some step (checked below), so a
# path that drops a field gives it back as the default and the comparison names it. The first
# email is there so the second may reply in its thread (the first always starts one).
EDITABLE_STEPS = [
    spec.Step("call", delay=3661),  # required: a call always is, the default
    spec.Step("email", delay=93784, email_template_id=DOC_TEMPLATE_INTRO, threading="new_thread"),
    spec.Step(
        "email",
        delay=172805,
        email_template_id=DOC_TEMPLATE_FOLLOW_UP,
        threading="old_thread",
        required=False,  # stored as it is, though only a call sends `required` to Close
    ),
    spec.Step("sms", delay=610, sms_template_id=SHARED_SMS),
    # Copy written in the step (issue 13): subject and body, and an SMS's text.
    spec.Step(
        "email",
        delay=86400,
        threading="old_thread",
        content_source="written",
        subject="Re: {{ lead.display_name }}",
        body='<div>Hi {{ contact.first_name | default:"there" }},<br><strong>bold</strong></div>',
    ),
    spec.Step("sms", delay=60, content_source="written", text="Hi {{ contact.first_name }}!"),
]
# A Close step we do not model, as an import from Close stores it: kept by id with Close's data.
KEPT_STEP = spec.Step(
    "task", delay=5400, close_id=TASK_STEP["id"], extra=dict(TASK_STEP), required=True
)
ALL_STEPS = [*EDITABLE_STEPS[:2], KEPT_STEP, *EDITABLE_STEPS[2:]]
STEP_FIELDS = [f.name for f in dataclasses.fields(spec.Step)]

# What each path does not carry on purpose, and why; every other field must come back as it was.
NOT_CARRIED = {
    # A step removed since the revision comes back under its old key, without Close's id:
    # the next publish creates it in Close again (review.restore_revision).
    "restore": {"close_id"},
    # The very same row comes back: its key and Close's id too.
    "undo": set(),
    # A new step: its own key, and no Close id (an edit never copies one). Only steps kept from
    # Close have `extra`, and those cannot be copied.
    "duplicate": {"key", "close_id", "extra"},
    # A file holds Close's create body: no ids, `required` only for calls (always true), and no
    # Close data (a file may come from another organization: its steps are our kinds only).
    "file": {"key", "close_id", "required", "extra"},
    # Close gives its own step ids (checked separately); `required` as in a file. Written copy
    # goes to Close as the step's template and comes back from it.
    "close": {"key", "close_id", "required"},
}

pytestmark = pytest.mark.django_db


def _default(name):
    field = next(f for f in dataclasses.fields(spec.Step) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def _rows(sequence, spec_steps):
    """Rows written field by field from the dataclass, not through the mapping under test."""
    columns = [name for name in STEP_FIELDS if name != "key"]
    for position, spec_step in enumerate(spec_steps):
        values = {name: getattr(spec_step, name) for name in columns}
        values = {name: ("" if value is None else value) for name, value in values.items()}
        Step.objects.create(sequence=sequence, position=position, **values)
    return [step.to_spec() for step in steps_of(sequence)]


def _new_sequence(user, spec_steps, name="Round trip"):
    sequence = Sequence.create_draft(name=name, timezone_name="Europe/Berlin", user=user)
    originals = _rows(sequence, spec_steps)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Steps"):
        pass
    sequence.refresh_from_db()
    return sequence, originals


def _assert_carried(path, before, after):
    """Every field of every step came back, except what `path` leaves out on purpose."""
    assert len(after) == len(before), f"{path}: {len(after)} steps came back of {len(before)}"
    for number, (old, new) in enumerate(zip(before, after, strict=True), start=1):
        for name in STEP_FIELDS:
            if name in NOT_CARRIED[path]:
                continue
            assert getattr(new, name) == getattr(old, name), (
                f"{path} dropped {name!r} of step {number} ({old.step_type}): "
                f"{getattr(old, name)!r} came back as {getattr(new, name)!r}"
            )


@pytest.mark.parametrize("path", NOT_CARRIED)
def test_every_step_field_has_a_distinctive_value_for_each_path(path):
    """So the round trip below would see any field dropped: add a value here for a new field."""
    spec_steps = ALL_STEPS if path in ("restore", "undo", "close") else EDITABLE_STEPS
    for name in STEP_FIELDS:
        if name in NOT_CARRIED[path] or name == "key":  # keys are the rows' own, never default
            continue
        assert any(getattr(step, name) != _default(name) for step in spec_steps), (
            f"no step of the {path} round trip has a non-default {name!r}"
        )


def _through_restore(client, user, sandbox):
    """Snapshot -> restore (review): every step removed since, then the revision restored."""
    sequence, originals = _new_sequence(user, ALL_STEPS)
    revision = sequence.version
    with sequence.editing(
        user=user, loaded_version=sequence.version, summary="Emptied", group=False
    ):
        sequence.steps.all().delete()
    sequence.refresh_from_db()
    review.restore_revision(
        sequence=sequence, user=user, revision_number=revision, loaded_version=sequence.version
    )
    restored = [step.to_spec() for step in steps_of(sequence)]
    assert all(step.close_id is None for step in restored)
    return originals, restored


def _through_undo(client, user, sandbox):
    """Remove -> Undo (the editor's endpoints), one step at a time."""
    sequence, originals = _new_sequence(user, ALL_STEPS)
    for original in steps_of(sequence):
        html = post(client, "step_remove", sequence, original.pk).content.decode()
        token = re.search(r'name="token" value="([^"]+)"', html).group(1)
        assert post(client, "step_restore", sequence, data={"token": token}).status_code == 200
    return originals, [step.to_spec() for step in steps_of(sequence)]


def _through_duplicate(client, user, sandbox):
    """Duplicate (the editor's endpoint): each copy lands right after its original."""
    sequence, originals = _new_sequence(user, EDITABLE_STEPS)
    for original in steps_of(sequence):
        assert post(client, "step_duplicate", sequence, original.pk).status_code == 200
    copies = [step.to_spec() for step in steps_of(sequence)][1::2]
    assert all(copy.close_id is None for copy in copies)
    return originals, copies


def _through_file(client, user, sandbox):
    """JSON export -> import."""
    sequence, originals = _new_sequence(user, EDITABLE_STEPS)
    data = importing.export_payload(sequence)
    imported = importing.import_file(data={**data, "name": "Imported"}, user=user)
    return originals, [step.to_spec() for step in steps_of(imported)]


def _in_a_close_template(sandbox, step):
    """`step` as publishing leaves it: written copy is carried by a Close template of its own,
    whose id the step keeps (made here in the sandbox's store, with the step's copy)."""
    if not steps.is_written(step):
        return step
    kind = steps.kind_of(step.step_type)
    copy = {name: getattr(step, name) for name in kind.copy_fields}
    template_id = seed_template(sandbox, kind.key, name=f"Round trip {kind.noun}", **copy)
    return dataclasses.replace(step, **{kind.template_field: template_id})


def _read_from_close(sandbox, step):
    """What a Close import makes of `step`: a picked shared template's copy comes in written in
    the step (the template id kept), read from Close and cleaned like any copy arriving."""
    kind = steps.kind_of(step.step_type)
    if not kind.copy_fields or steps.is_written(step):
        return step
    template_id = getattr(step, kind.template_field)
    [template] = [
        t for t in sandbox.email_templates + sandbox.sms_templates if t["id"] == template_id
    ]
    copy = {name: template[name] for name in kind.copy_fields}
    if "body" in copy:
        copy["body"] = copytext.clean_body(copy["body"])
    return dataclasses.replace(step, content_source=steps.WRITTEN, **copy)


def _through_close(client, user, sandbox):
    """Created in Close through the client (the payload publishing sends, written copy in
    templates of its own), then imported: the copy comes back from the templates."""
    published = [_in_a_close_template(sandbox, step) for step in ALL_STEPS]
    assert sum(step != old for step, old in zip(published, ALL_STEPS, strict=True)) == 2
    sequence, originals = _new_sequence(user, published)
    originals = [_read_from_close(sandbox, step) for step in originals]
    assert sum(step.content_source == steps.WRITTEN for step in originals) == 5
    close_client = close.client_from_settings()
    payload = spec.to_close_payload(sequence.to_spec())
    payload["steps"] = [step for step in payload["steps"] if step["step_type"] != "task"]
    created = close_client.create_sequence(payload)
    with sandbox._lock:  # Close's UI can add step types the API does not document
        sandbox._store.sequences[created["id"]]["steps"].insert(2, dict(TASK_STEP))
    in_close = close_client.fetch_sequence(created["id"])
    imported, _ = importing.import_from_close(
        close_id=created["id"], user=user, client=close_client
    )
    back = [step.to_spec() for step in steps_of(imported)]
    assert [step.close_id for step in back] == [step["id"] for step in in_close["steps"]]
    # Every email and SMS step's template is recorded as Close's (written steps included).
    assert sorted(
        imported.owned_templates.filter(created_by_us=False).values_list("step_key", flat=True)
    ) == sorted(step.key for step in back if steps.kind_of(step.step_type).copy_fields)
    return originals, back


PATHS = {
    "restore": _through_restore,
    "undo": _through_undo,
    "duplicate": _through_duplicate,
    "file": _through_file,
    "close": _through_close,
}


@pytest.mark.parametrize("path", PATHS)
def test_every_step_field_survives_every_path_that_rebuilds_steps(path, logged_in, user, sandbox):
    originals, after = PATHS[path](logged_in, user, sandbox)
    _assert_carried(path, originals, after)


# --- A kind registered in one place ----------------------------------------------------------


@pytest.fixture
def linkedin():
    """A throwaway kind: one registry entry, nothing else touched."""
    kind = steps.StepKind(
        key="linkedin",
        label="LinkedIn",
        noun="LinkedIn",
        words="a LinkedIn",
        payload_builder=lambda step: {"step_type": "linkedin", "delay": step.delay, "note": "hi"},
        detail_words=lambda step: ("connect first",),
    )
    with steps.registered(kind):
        yield kind


def test_a_registered_kind_gets_payload_diff_description_and_validation(linkedin):
    step = spec.Step("linkedin", delay=3600)
    sequence_spec = spec.SequenceSpec(name="Social", timezone="Europe/Berlin", steps=[step])

    assert spec.to_close_payload(sequence_spec)["steps"] == [
        {"step_type": "linkedin", "delay": 3600, "note": "hi"}
    ]
    assert spec.validate(sequence_spec) == []  # not "unknown type"
    too_long = dataclasses.replace(step, delay=spec.MAX_DELAY_SECONDS + 1)
    assert [
        p.code for p in spec.validate(dataclasses.replace(sequence_spec, steps=[too_long]))
    ] == ["delay_too_long"]
    # A template left behind on it is named as for any kind without one.
    stray = dataclasses.replace(step, email_template_id="tmpl_x")
    problems = spec.validate(dataclasses.replace(sequence_spec, steps=[stray]))
    assert [p.message for p in problems] == [
        "Step 1 is a LinkedIn step, so it cannot have an email template."
    ]

    change = diff.diff_specs(None, sequence_spec).steps[0]
    assert change.title == "Step 1 added"
    assert change.type_label == "LinkedIn"
    assert change.description == "LinkedIn · wait 1 hour · connect first"
    assert steps.describe(step, str).sentence() == "LinkedIn (connect first)"
    assert AddStepForm({"step_type": "linkedin"}).is_valid()  # the editor may add one
    assert [(kind.key, kind.label, kind.add_label, kind.editable) for kind in steps.KINDS][-1] == (
        "linkedin",
        "LinkedIn",
        "Add LinkedIn step",
        True,
    )


def test_a_registered_kind_gets_an_add_button_and_a_card_in_the_editor(
    linkedin, logged_in, example_sequence
):
    """The editor's buttons and cards come from the registry: nothing else knows "linkedin"."""
    from tests.builder.editor_support import edit_url

    page = logged_in.get(edit_url(example_sequence)).content.decode()
    assert re.search(r'name="step_type" value="linkedin"[^>]*>.*Add LinkedIn step</button>', page)
    assert "Insert LinkedIn step</button>" in page

    response = post(logged_in, "step_add", example_sequence, data={"step_type": "linkedin"})

    assert response.status_code == 200
    added = steps_of(example_sequence)[-1]
    assert (added.step_type, added.delay) == ("linkedin", 86400)
    assert f'id="step-{added.pk}-days"' in response.content.decode()  # placed in the page
    # Below the first screen the page holds its head until it is scrolled to: ask for all.
    page = logged_in.get(edit_url(example_sequence) + "?cards=all").content.decode()
    card = page[page.index(f'<li id="step-{added.pk}"') :]
    card = card[: card.index("</li>")]
    assert "LinkedIn" in card and f'id="step-{added.pk}-days"' in card
    assert "does not edit this kind of step" not in card


def test_the_registry_forgets_a_kind_after_its_block():
    with steps.registered(steps.StepKind(key="fax", label="Fax", noun="fax", words="a fax")):
        assert steps.kind_of("fax").label == "Fax"
    assert steps.kind_of("fax") is steps.UNKNOWN
    assert steps.type_label("fax") == "Close “fax” step"


def test_kinds_offer_what_a_template_needs():
    assert [(k.key, k.label, k.add_label, k.insert_label, k.editable) for k in steps.KINDS] == [
        ("email", "Email", "Add email step", "Insert email step", True),
        ("call", "Call", "Add call step", "Insert call step", True),
        ("sms", "SMS", "Add SMS step", "Insert SMS step", True),
    ]
    assert [k.card_partial for k in steps.KINDS] == [
        "builder/steps/_email_card.html",
        "builder/steps/_call_card.html",
        "builder/steps/_sms_card.html",
    ]
    assert not steps.UNKNOWN.editable


@pytest.mark.parametrize(
    ("step", "line", "sentence"),
    [
        (
            spec.Step("email", email_template_id="t1", threading="old_thread"),
            "Email · “t1” · replies in the previous thread",
            "Email “t1”, replies in the previous thread",
        ),
        (spec.Step("call"), "Call · required", "Call (required)"),
        (spec.Step("sms", sms_template_id="t2"), "SMS · “t2”", "SMS “t2”"),
        (
            spec.Step("task", close_id="seqstep_1", extra={"step_type": "task"}),
            "Close “task” step · kept as it is in Close",
            "Close “task” step (kept as it is in Close)",
        ),
    ],
)
def test_one_description_two_renderings(step, line, sentence):
    description = steps.describe(step, lambda template_id: f"“{template_id}”")
    assert description.line() == line
    assert description.sentence() == sentence


def test_the_registry_and_spec_are_pure_python():
    """spec.py imports the registry, so neither may pull Django in (run in a fresh interpreter)."""
    code = (
        "import sys, builder.steps, builder.spec; "
        "sys.exit(any(name.split('.')[0] == 'django' for name in sys.modules))"
    )
    project = Path(__file__).resolve().parents[2]
    # Our own interpreter with a fixed program: nothing untrusted is run.
    result = subprocess.run([sys.executable, "-c", code], cwd=project, check=False)  # noqa: S603
    assert result.returncode == 0, "importing builder.spec imported Django"
