"""Every fault Close can throw at a template write while publishing written copy: 429 beyond
our wait, 5xx, a connection dropped before or after Close acted, an unreadable answer, and 400
field errors. Whatever happens, Close ends with one template per step (counted in the sandbox's
store, by the step's unique name), one sequence, and the draft's copy; a retry reuses what was
created."""

import pytest

from builder import spec
from builder.models import PublishAttempt, Sequence
from tests.builder.copykit import (
    FOLLOW_UP,
    INTRO,
    SMS,
    edit_step,
    fresh,
    publish,
    rows,
    template,
    templates_named,
    writes,
    written_draft,
)
from tests.conftest import approve

pytestmark = pytest.mark.django_db
Outcome = PublishAttempt.Outcome

# The write each test breaks: the first email's create, the SMS's create (the third template,
# after two were created), and the first email's update on a republish.
WRITES = {
    "email create": ("POST", "/email_template/"),
    "sms create": ("POST", "/sms_template/"),
    "email update": ("PUT", "/email_template/"),
}
EDITED = "<div>Hi there, <strong>one</strong> short question.</div>"


@pytest.fixture(autouse=True)
def quick(settings):
    settings.PUBLISH_SETTLE_SECONDS = 0.3  # look again after no answer for 0.3 s, not 30 s
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0  # no back-off sleeps


@pytest.fixture
def setup(user, reviewer, publisher, sandbox):
    """Returns prepare(write): the approved draft ready for the publish whose `write` breaks."""

    def prepare(write):
        sequence = approve(written_draft(user), reviewer)
        if write == "email update":
            assert publish(sequence, publisher).ok
            edit_step(sequence, user, reviewer, 1, body=EDITED)
        return fresh(sequence)

    return prepare


def content_of(sequence):
    snapshot = spec.to_snapshot(Sequence.objects.get(pk=sequence.pk).to_spec())
    for step in snapshot["steps"]:
        step.pop("close_id")
        step.pop("email_template_id")
        step.pop("sms_template_id")
    return snapshot


def wanted_copy(write):
    return {
        1: {"subject": "Quick question", "body": EDITED if write == "email update" else INTRO},
        2: {"subject": "Re: Quick question", "body": FOLLOW_UP},
        3: {"text": SMS},
    }


def assert_exactly_once_and_nothing_lost(sequence, sandbox, write):
    """One template per written step in Close, holding the draft's copy; one sequence."""
    owned = rows(sequence)
    assert sorted(owned) == [1, 2, 3]
    for index, copy in wanted_copy(write).items():
        row = owned[index]
        assert len(templates_named(sandbox, row.name)) == 1, f"step {index + 1} duplicated"
        stored = template(sandbox, row.close_id)
        assert {key: stored[key] for key in copy} == copy, f"step {index + 1}'s copy"
    assert len(sandbox.email_templates) == EMAILS_BEFORE[sandbox] + 2
    assert len(sandbox.sms_templates) == SMS_BEFORE[sandbox] + 1
    assert len(sandbox.sequences) == 1
    fresh_sequence = fresh(sequence)
    assert fresh_sequence.status == Sequence.Status.PUBLISHED
    assert fresh_sequence.publishing_since is None
    sent = sandbox.sequences[0]["steps"]
    assert sent[1]["email_template_id"] == owned[1].close_id
    assert sent[3]["sms_template_id"] == owned[3].close_id


EMAILS_BEFORE: dict = {}
SMS_BEFORE: dict = {}


@pytest.fixture(autouse=True)
def counted(sandbox):
    EMAILS_BEFORE[sandbox] = len(sandbox.email_templates)
    SMS_BEFORE[sandbox] = len(sandbox.sms_templates)
    yield
    EMAILS_BEFORE.clear()
    SMS_BEFORE.clear()


def break_it(sandbox, write, kind, **options):
    method, path = WRITES[write]
    # The SMS create is the third template write: the two emails before it go through.
    sandbox.inject(kind, method=method, path=path, **options)


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(
    "fault",
    ["rate_limit", "error_500", "error_502", "error_503", "drop", "malformed"],
)
def test_a_clear_or_unclear_failure_creates_nothing_twice_and_the_retry_finishes(
    setup, publisher, sandbox, settings, write, fault
):
    sequence = setup(write)
    before = content_of(sequence)
    if fault == "rate_limit":
        settings.CLOSE_MAX_WAIT_IN_JOB = 60.0
        break_it(sandbox, write, "rate_limit", reset=120)
    elif fault.startswith("error_"):
        break_it(sandbox, write, "error", status=int(fault.removeprefix("error_")))
    else:
        break_it(sandbox, write, fault)

    first = publish(sequence, publisher)

    assert not first.ok
    assert first.attempt.outcome == Outcome.FAILED
    words = "step 4's SMS template" if write == "sms create" else "step 2's email template"
    if fault == "rate_limit":
        assert "Close asked us to wait 120 s before trying again." in first.message
        assert words in first.message
    elif write == "email update":
        assert f"We checked: Close did not save the changes to {words}" in first.message
    else:
        assert f"We checked: Close did not create {words}" in first.message
    assert "your draft is unchanged" in first.message or fault == "rate_limit"
    if write == "sms create":
        kept = "Kept in Close for the next attempt, step templates created for steps 2 and 3."
        assert kept in first.message
    assert content_of(sequence) == before, "no copy lost"
    stored = fresh(sequence)
    assert stored.status == Sequence.Status.APPROVED and stored.publishing_since is None
    if write != "email update":
        assert sandbox.sequences == [], "the sequence waits for its templates"
    sandbox.clear_faults()

    retried = publish(sequence, publisher)

    assert retried.ok, retried.message
    assert_exactly_once_and_nothing_lost(sequence, sandbox, write)


@pytest.mark.parametrize("write", WRITES)
def test_an_answer_lost_after_close_acted_is_found_by_name_and_used(
    setup, publisher, sandbox, write
):
    sequence = setup(write)
    break_it(sandbox, write, "commit_then_drop")

    outcome = publish(sequence, publisher)

    assert outcome.ok, outcome.message
    assert_exactly_once_and_nothing_lost(sequence, sandbox, write)
    if write != "email update":
        assert "found in Close for step" in outcome.message


@pytest.mark.parametrize("write", ["email create", "sms create"])
def test_a_look_up_that_cannot_reach_close_keeps_the_guard_and_looks_again_first(
    setup, publisher, sandbox, write
):
    sequence = setup(write)
    method, path = WRITES[write]
    break_it(sandbox, write, "commit_then_drop")
    sandbox.inject("malformed", method="GET", path=path, times=10)

    first = publish(sequence, publisher)

    assert first.attempt.outcome == Outcome.UNKNOWN
    assert "we could not check whether Close created" in first.message
    assert fresh(sequence).publishing_since is not None, "the guard stays"
    sandbox.clear_faults()
    since = len(sandbox.requests)

    retried = publish(sequence, publisher)

    assert retried.ok, retried.message
    # Found by its name, not created again; only the templates after it are left to create.
    left = 1 if write == "email create" else 0
    assert writes(sandbox, since).count((method, path)) == left
    assert_exactly_once_and_nothing_lost(sequence, sandbox, write)


@pytest.mark.parametrize("status", [500, 502])
def test_a_failed_sequence_create_reuses_the_templates_on_retry(setup, publisher, sandbox, status):
    sequence = setup("email create")
    sandbox.inject("error", status=status, method="POST", path="/sequence/")

    first = publish(sequence, publisher)

    assert not first.ok
    assert len(sandbox.email_templates) == EMAILS_BEFORE[sandbox] + 2
    since = len(sandbox.requests)
    retried = publish(sequence, publisher)

    assert retried.ok, retried.message
    assert writes(sandbox, since) == [("POST", "/sequence/")], "no template sent again"
    assert_exactly_once_and_nothing_lost(sequence, sandbox, "email create")


@pytest.mark.parametrize("write", ["email create", "email update"])
def test_field_errors_on_a_template_are_mapped_to_its_step_and_field(
    user, reviewer, publisher, sandbox, write
):
    # Nothing visible survives cleaning, so Close gets an empty body and says it is required.
    empty = "<script>alert(1)</script>"
    if write == "email create":
        sequence = approve(written_draft(user, body=empty), reviewer)
    else:
        sequence = approve(written_draft(user), reviewer)
        assert publish(sequence, publisher).ok
        edit_step(sequence, user, reviewer, 1, body=empty)
    before = content_of(sequence)
    templates_before = len(sandbox.email_templates)

    outcome = publish(sequence, publisher)

    assert outcome.attempt.outcome == Outcome.REFUSED
    assert "Step 2's body: This field is required." in outcome.message
    assert outcome.field_errors == {"steps.1.body": "This field is required."}
    assert len(sandbox.email_templates) == templates_before
    assert content_of(sequence) == before
    assert fresh(sequence).status == Sequence.Status.APPROVED

    edit_step(sequence, user, reviewer, 1, body=EDITED if write == "email update" else INTRO)
    retried = publish(sequence, publisher)
    assert retried.ok, retried.message
    assert_exactly_once_and_nothing_lost(sequence, sandbox, write)
