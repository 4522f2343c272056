"""builder/diff.py: what changed between two specs, in words (pure Python, no database)."""

import pytest

from builder import diff, spec
from builder.diff import TemplateText, diff_specs

Step = spec.Step
WEEKDAYS = [spec.ScheduleRange(day, "09:00", "16:59") for day in range(1, 6)]
TEMPLATES = {
    "t_intro": TemplateText(
        "t_intro",
        "Intro",
        "Quick question",
        "<p>Hi {{ contact.first_name }},</p><p>Quick question about your team.</p>"
        "<p>Tom &amp; Jerry<br>Acme</p>",
    ),
    "t_follow": TemplateText(
        "t_follow",
        "Follow-up",
        "Re: quick question",
        "<p>Hi {{ contact.first_name }},</p><p>Following up on my note.</p>"
        "<p>Tom &amp; Jerry<br>Acme</p>",
    ),
    "s_hi": TemplateText("s_hi", "SMS hi", "", "Hi there\nReply STOP to opt out", kind="sms"),
}


def example(**changes):
    """Close's example with our step keys: call; email +1 day; reply +3 days."""
    base = spec.SequenceSpec(
        name="My Sequence",
        timezone="America/Los_Angeles",
        steps=[
            Step("call", 0, key="1"),
            Step("email", 86400, "t_intro", threading="new_thread", key="2"),
            Step("email", 3 * 86400, "t_follow", threading="old_thread", key="3"),
        ],
        schedule=list(WEEKDAYS),
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_identical_specs_have_no_changes():
    result = diff_specs(example(), example(), TEMPLATES)

    assert result.is_empty and result.count == 0
    assert result.unchanged_steps == 3


def test_name_and_timezone():
    result = diff_specs(example(), example(name="Q3", timezone="Europe/Berlin"))

    assert (result.name.before, result.name.after) == ("My Sequence", "Q3")
    assert (result.timezone.before, result.timezone.after) == (
        "America/Los_Angeles",
        "Europe/Berlin",
    )
    assert result.headlines() == [
        "Name: My Sequence → Q3",
        "Time zone: America/Los_Angeles → Europe/Berlin",
    ]


def test_a_changed_delay_is_one_change_on_that_step():
    after = example()
    after.steps[1].delay = 2 * 86400

    result = diff_specs(example(), after, TEMPLATES)

    (change,) = result.steps
    assert (change.kind, change.title, change.moved) == ("changed", "Step 2 changed", False)
    assert change.fields == [diff.FieldChange("Wait", "1 day", "2 days")]
    assert result.headlines() == ["Step 2: wait 1 day → 2 days"]
    assert result.unchanged_steps == 2


def test_inserting_a_step_is_one_addition_not_a_cascade():
    after = example()
    after.steps.insert(0, Step("sms", 0, sms_template_id="s_hi", key="9"))

    result = diff_specs(example(), after, TEMPLATES)

    (change,) = result.steps
    assert (change.kind, change.title) == ("added", "Step 1 added")
    assert change.description == "SMS · no wait · “SMS hi”"
    assert result.unchanged_steps == 3


def test_removing_a_step_lists_it_where_it_was():
    after = example()
    del after.steps[1]
    after.steps[1] = Step("email", 4 * 86400, "t_follow", threading="old_thread", key="3")

    result = diff_specs(example(), after, TEMPLATES)

    assert [c.title for c in result.steps] == ["Step 2 removed", "Step 2 (was 3) changed"]
    removed = result.steps[0]
    assert removed.description == "Email · wait 1 day · “Intro” · starts a new thread"
    assert result.steps[1].before_number == 3 and result.steps[1].after_number == 2


def test_moving_a_step_is_a_move_not_a_removal():
    after = example()
    after.steps = [after.steps[0], after.steps[2], after.steps[1]]

    result = diff_specs(example(), after, TEMPLATES)

    # The reply is now the first email: Close gets it starting the thread, a real change.
    reply, moved = result.steps
    assert (reply.kind, reply.moved, reply.before_number, reply.after_number) == (
        "changed",
        False,
        3,
        2,
    )
    assert reply.fields == [
        diff.FieldChange("Threading", "Replies in the previous thread", "Starts a new thread")
    ]
    assert moved.kind == "changed" and moved.moved
    assert moved.title == "Step 3 (was 2): moved down"
    assert moved.fields == []


def test_moved_and_changed_step_says_both():
    after = example()
    moved = after.steps.pop(0)
    moved.delay = 3600
    after.steps.append(moved)

    result = diff_specs(example(), after, TEMPLATES)

    (change,) = result.steps
    assert change.title == "Step 3 (was 1): moved down"
    assert change.fields == [diff.FieldChange("Wait", "immediately", "1 hour")]
    assert change.headline() == "Step 3 (was 1): moved down; wait immediately → 1 hour"


def test_template_swap_shows_subject_and_body_lines():
    after = example()
    after.steps[1].email_template_id = "t_follow"

    (change,) = diff_specs(example(), after, TEMPLATES).steps

    assert change.fields == [diff.FieldChange("Email template", "“Intro”", "“Follow-up”")]
    text = change.template
    assert text.subject == diff.FieldChange("Subject", "Quick question", "Re: quick question")
    assert [(line.op, line.text) for line in text.body] == [
        ("same", "Hi {{ contact.first_name }},"),
        ("removed", "Quick question about your team."),
        ("added", "Following up on my note."),
        ("same", "Tom & Jerry"),
        ("same", "Acme"),
    ]


def test_template_text_missing_from_the_cache_is_named_not_guessed():
    after = example()
    after.steps[1].email_template_id = "t_gone"

    (change,) = diff_specs(example(), after, TEMPLATES).steps

    assert change.fields[0].after == "t_gone (not in the synced templates)"
    assert change.template.missing == ["t_gone"]
    assert change.template.body == []


def test_threading_required_and_type_changes():
    after = example()
    after.steps[2].threading = "new_thread"
    before = example()
    before.steps.append(Step("call", 60, key="4"))
    after.steps.append(Step("sms", 60, sms_template_id="s_hi", key="4"))

    result = diff_specs(before, after, TEMPLATES)

    fields = {c.after_number: c.fields for c in result.steps}
    assert 1 not in fields  # nothing changed in step 1
    assert fields[3] == [
        diff.FieldChange("Threading", "Replies in the previous thread", "Starts a new thread")
    ]
    assert fields[4] == [
        diff.FieldChange("Type", "Call", "SMS"),
        diff.FieldChange("SMS template", "—", "“SMS hi”"),
    ]


def test_close_ids_match_steps_before_keys():
    before = example()
    after = example()
    for step in before.steps + after.steps:
        step.close_id = f"seqstep_{step.key}"
        step.key = None
    after.steps.reverse()

    result = diff_specs(before, after, TEMPLATES)

    assert all(c.kind == "changed" for c in result.steps)
    assert result.unchanged_steps + len(result.steps) == 3


def test_steps_without_identity_are_lined_up_by_content():
    """Revisions saved before step keys existed still diff sensibly."""
    before = example()
    for step in before.steps:
        step.key = None
    after = example()
    after.steps.insert(1, Step("call", 3600, key="7"))

    result = diff_specs(before, after, TEMPLATES)

    assert [(c.kind, c.title) for c in result.steps] == [("added", "Step 2 added")]


def test_different_keys_are_different_steps_even_when_alike():
    before = example()
    after = example()
    after.steps[0] = Step("call", 0, key="99")  # removed and re-added: another row

    result = diff_specs(before, after, TEMPLATES)

    assert sorted(c.title for c in result.steps) == ["Step 1 added", "Step 1 removed"]


def test_schedule_before_after_grid():
    after = example(
        schedule=[spec.ScheduleRange(day, "10:00", "16:59") for day in range(1, 6)]
        + [spec.ScheduleRange(6, "09:00", "11:59")]
    )

    schedule = diff_specs(example(), after).schedule

    assert (schedule.before, schedule.after) == (
        "Mon–Fri 09:00–16:59",
        "Mon–Fri 10:00–16:59; Sat 09:00–11:59",
    )
    monday, saturday, sunday = schedule.days[0], schedule.days[5], schedule.days[6]
    assert (monday.before, monday.after, monday.changed) == ("09:00–16:59", "10:00–16:59", True)
    assert monday.cells[18:20] == ("removed", "removed")  # 09:00 and 09:30
    assert monday.cells[20] == "on" and monday.cells[34] == ""  # 10:00 kept, 17:00 closed
    assert (saturday.before, saturday.after) == ("—", "09:00–11:59")
    assert saturday.cells[18:24] == ("added",) * 6
    assert not sunday.changed and set(sunday.cells) == {""}
    assert [day.name for day in schedule.changed_days] == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ]


def test_partly_changed_half_hour():
    after = example(schedule=[spec.ScheduleRange(1, "09:15", "16:59")])

    monday = diff_specs(example(), after).schedule.days[0]

    assert monday.cells[18] == "changed"  # 09:00–09:29: full before, partial after


def test_any_time_and_reordered_ranges():
    assert diff_specs(example(), example(schedule=list(reversed(WEEKDAYS)))).schedule is None
    schedule = diff_specs(example(), example(schedule=None)).schedule
    assert schedule.after == "Any time"
    assert schedule.days[6].after == "Any time" and set(schedule.days[6].cells) == {"added"}


def test_a_new_sequence_is_all_added():
    result = diff_specs(None, example(), TEMPLATES)

    assert result.is_new
    assert [c.title for c in result.steps] == ["Step 1 added", "Step 2 added", "Step 3 added"]
    assert result.name.after == "My Sequence"
    assert result.schedule.before == "—" and result.schedule.days[0].cells[18] == "added"


def test_html_to_lines_reads_like_the_email():
    html = "<div>Hello&nbsp;<b>there</b></div><p>Line&nbsp;two<br>Line three</p><p> </p>"

    assert diff.html_to_lines(html) == ["Hello there", "Line two", "Line three"]


def test_long_unchanged_runs_become_a_gap():
    old = ["a", "b", "c", "d", "e", "f"]
    new = ["a", "b", "c", "d", "e", "F"]

    lines = diff.diff_lines(old, new)

    assert [(line.op, line.text) for line in lines] == [
        ("gap", "4 unchanged lines"),
        ("same", "e"),
        ("removed", "f"),
        ("added", "F"),
    ]
    assert diff.diff_lines(old, old) == []


def test_step_keys_never_reach_close():
    payload = spec.to_close_payload(example())
    update = spec.to_close_update_payload(example())

    assert all("key" not in step for step in payload["steps"] + update["steps"])
    assert spec.from_snapshot(spec.to_snapshot(example())) == example()


@pytest.mark.parametrize("count", [50, 200])
def test_long_sequences_diff_to_exactly_their_changes(count):
    # How fast is measured by `make bench` (the review page's diff row), not asserted here.
    before = example(
        steps=[
            Step("email", 86400 * (i % 5), "t_intro", threading="old_thread", key=str(i))
            for i in range(count)
        ]
    )
    after = example(steps=[spec.Step(**vars(step)) for step in before.steps])
    for i in range(0, count, count // 10):
        after.steps[i].delay += 3600
    after.steps.insert(3, after.steps.pop(count - 1))

    result = diff_specs(before, after, TEMPLATES)

    assert len(result.steps) == 11
    assert all(change.kind == "changed" for change in result.steps)
    assert [change.before_number for change in result.steps if change.moved] == [count]


def test_a_reply_stored_on_the_first_email_is_no_change():
    """Close gets new_thread either way (spec.apply_threading_rule): nothing to review."""
    after = example()
    after.steps[1] = Step("email", 86400, "t_intro", threading="old_thread", key="2")

    result = diff_specs(example(), after, TEMPLATES)

    assert result.steps == [] and result.unchanged_steps == 3
