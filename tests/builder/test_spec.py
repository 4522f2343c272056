import copy
import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder import spec
from builder.spec import (
    ERROR,
    MAX_DELAY_SECONDS,
    STEP_TYPES,
    THREADING,
    WARNING,
    Problem,
    ScheduleRange,
    SequenceSpec,
    Step,
    TemplateInfo,
    apply_threading_rule,
    blocking,
    describe_delay,
    describe_schedule,
    edited_delay,
    first_email_index,
    from_close,
    from_snapshot,
    join_delay,
    leftover_seconds,
    require_calls,
    split_delay,
    to_close_payload,
    to_close_update_payload,
    to_snapshot,
    validate,
    weekday_name,
)

# Close's create example, verbatim from close-create-sequence.txt (request, then response).
CLOSE_EXAMPLE_REQUEST = {
    "name": "My Sequence",
    "schedule": {
        "ranges": [
            {"end": "16:59", "start": "09:00", "weekday": 1},
            {"end": "16:59", "start": "09:00", "weekday": 2},
            {"end": "16:59", "start": "09:00", "weekday": 3},
            {"end": "16:59", "start": "09:00", "weekday": 4},
            {"end": "16:59", "start": "09:00", "weekday": 5},
        ]
    },
    "steps": [
        {"delay": 0, "required": True, "step_type": "call"},
        {
            "delay": 86400,
            "email_template_id": "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn",
            "step_type": "email",
            "threading": "old_thread",
        },
        {
            "delay": 259200,
            "email_template_id": "tmpl_l12k3as9d008324ljeANFTyS239048asdFdsVfnzaln",
            "threading": "old_thread",
        },
    ],
    "timezone": "America/Los_Angeles",
}

USER = "user_N6KhMpzHRCYQHdn4gRNIFNN5JExnsrprKA6ekxM63XA"
CLOSE_EXAMPLE_RESPONSE = {
    "created_by_id": USER,
    "date_created": "2022-03-10T14:21:15.270359",
    "date_updated": "2022-03-10T14:21:15.270380",
    "id": "seq_01FX7LXnJDiYZfWM9cZNkK",
    "name": "My Sequence",
    "organization_id": "orga_RbREgmiiwcr1w2b4cOnCMQaQPSIFxMqAD2Dh243uxcH",
    "schedule": {
        "ranges": [
            {"end": "16:59", "start": "09:00", "weekday": 1},
            {"end": "16:59", "start": "09:00", "weekday": 2},
            {"end": "16:59", "start": "09:00", "weekday": 3},
            {"end": "16:59", "start": "09:00", "weekday": 4},
            {"end": "16:59", "start": "09:00", "weekday": 5},
        ]
    },
    "status": "active",
    "steps": [
        {
            "created_by_id": USER,
            "date_created": "2022-03-10T14:21:15.276005",
            "date_updated": "2022-03-10T14:21:15.276009",
            "delay": 0,
            "email_template_id": None,
            "id": "seqstep_27RRKBOqqsaDLfv3DC2j4w",
            "required": True,
            "step_allowed_delay": None,
            "step_type": "call",
            "threading": None,
            "updated_by_id": USER,
        },
        {
            "created_by_id": USER,
            "date_created": "2022-03-10T14:21:15.278210",
            "date_updated": "2022-03-10T14:21:15.278213",
            "delay": 86400,
            "email_template_id": "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn",
            "id": "seqstep_6MEzpiQOFmXUspWL50qm9G",
            "required": True,
            "step_allowed_delay": None,
            "step_type": "email",
            "threading": "old_thread",
            "updated_by_id": USER,
        },
        {
            "created_by_id": USER,
            "date_created": "2022-03-10T14:21:15.278909",
            "date_updated": "2022-03-10T14:21:15.278911",
            "delay": 259200,
            "email_template_id": "tmpl_l12k3as9d008324ljeANFTyS239048asdFdsVfnzaln",
            "id": "seqstep_3EhVVniW2ks6w740LMcivm",
            "required": True,
            "step_allowed_delay": None,
            "step_type": "email",
            "threading": "old_thread",
            "updated_by_id": USER,
        },
    ],
    "timezone": "America/Los_Angeles",
    "updated_by_id": USER,
}

TEMPLATES = {
    t.id: t
    for t in [
        TemplateInfo("tmpl_intro", "email", "Intro", is_shared=True, is_archived=False),
        TemplateInfo("tmpl_private", "email", "My draft", is_shared=False, is_archived=False),
        TemplateInfo("tmpl_old", "email", "Old intro", is_shared=True, is_archived=True),
        TemplateInfo("smstmpl_hi", "sms", "Hi text", is_shared=True, is_archived=False),
        TemplateInfo("smstmpl_private", "sms", "My text", is_shared=False, is_archived=False),
        TemplateInfo("smstmpl_old", "sms", "Old text", is_shared=True, is_archived=True),
    ]
}
WEEKDAYS_9_TO_5 = [ScheduleRange(day, "09:00", "16:59") for day in range(1, 6)]


def email(template="tmpl_intro", threading="old_thread", **kwargs):
    return Step("email", email_template_id=template, threading=threading, **kwargs)


def sms(template="smstmpl_hi", **kwargs):
    return Step("sms", sms_template_id=template, **kwargs)


def call(**kwargs):
    return Step("call", **kwargs)


def spec_with(*steps, **kwargs):
    fields = {"name": "Q3 outbound", "timezone": "America/New_York", "steps": list(steps)}
    return SequenceSpec(**(fields | kwargs))


def valid_spec(**kwargs):
    steps = [email(threading="new_thread"), call(delay=86400), sms(delay=172800)]
    return spec_with(*steps, **({"schedule": list(WEEKDAYS_9_TO_5)} | kwargs))


def problems_at(spec, path, templates=TEMPLATES):
    return [p for p in validate(spec, templates) if p.path == path]


def only_problem_at(spec, path, templates=TEMPLATES) -> Problem:
    [problem] = problems_at(spec, path, templates)
    return problem


# --- The round trip from the issue ----------------------------------------------------------


def test_close_example_request_round_trips_once_the_untyped_step_gets_a_type():
    spec = from_close(CLOSE_EXAMPLE_REQUEST)

    [error] = blocking(validate(spec))
    assert error.path == "steps.2.step_type"
    assert error.code == "step_type_required"
    assert error.message == "Step 3 has no type."

    spec.steps[2].step_type = "email"
    problems = validate(spec)
    # Close's own example replies in a thread that does not exist yet: the step keeps that
    # choice, and the payload starts the thread there (the first-email rule), so no problem.
    assert problems == []
    assert spec.steps[1].threading == "old_thread"

    expected = copy.deepcopy(CLOSE_EXAMPLE_REQUEST)
    expected["steps"][2]["step_type"] = "email"
    expected["steps"][1]["threading"] = "new_thread"
    assert to_close_payload(spec) == expected


def test_untyped_step_is_sent_back_as_it_came():
    expected = copy.deepcopy(CLOSE_EXAMPLE_REQUEST)
    expected["steps"][1]["threading"] = "new_thread"  # the first email starts the thread
    assert to_close_payload(from_close(CLOSE_EXAMPLE_REQUEST)) == expected


def test_close_example_response_parses_to_the_request_plus_ids():
    from_request = from_close(CLOSE_EXAMPLE_REQUEST)
    from_request.steps[2].step_type = "email"  # Close's default for an untyped step
    step_ids = [step["id"] for step in CLOSE_EXAMPLE_RESPONSE["steps"]]
    expected = dataclasses.replace(
        from_request,
        status="active",
        steps=[
            dataclasses.replace(step, close_id=step_id)
            for step, step_id in zip(from_request.steps, step_ids, strict=True)
        ],
    )

    assert from_close(CLOSE_EXAMPLE_RESPONSE) == expected


def test_times_echoed_with_seconds_are_normalised():
    response = copy.deepcopy(CLOSE_EXAMPLE_RESPONSE)
    for time_range in response["schedule"]["ranges"]:
        time_range["start"] += ":00"
        time_range["end"] += ":00"
    assert response["schedule"]["ranges"][0]["end"] == "16:59:00"

    assert from_close(response).schedule == WEEKDAYS_9_TO_5


def test_response_only_fields_do_not_leak_into_payloads():
    spec = from_close(CLOSE_EXAMPLE_RESPONSE)
    assert all(step.extra == {} for step in spec.steps)

    payload = to_close_payload(spec)
    assert "id" not in payload
    for step in payload["steps"]:
        assert set(step) <= {"step_type", "delay", "required", "email_template_id", "threading"}


def test_from_close_reads_a_missing_or_null_schedule_as_any_time():
    without_schedule = {k: v for k, v in CLOSE_EXAMPLE_REQUEST.items() if k != "schedule"}
    assert from_close(without_schedule).schedule is None
    assert from_close(CLOSE_EXAMPLE_RESPONSE | {"schedule": None}).schedule is None


# --- Sequence fields ------------------------------------------------------------------------


def test_a_valid_spec_has_no_problems():
    assert validate(valid_spec(status="paused"), TEMPLATES) == []


@pytest.mark.parametrize("name", ["", "   ", None])
def test_name_is_required(name):
    problem = only_problem_at(valid_spec(name=name), "name")
    assert (problem.severity, problem.code) == (ERROR, "name_required")
    assert problem.message == "Give the sequence a name."


def test_name_longer_than_200_characters_is_an_error():
    assert problems_at(valid_spec(name="x" * 200), "name") == []
    problem = only_problem_at(valid_spec(name="x" * 201), "name")
    assert (problem.severity, problem.code) == (ERROR, "name_too_long")
    assert "201 characters" in problem.message


@pytest.mark.parametrize("timezone", ["", None])
def test_timezone_is_required(timezone):
    problem = only_problem_at(valid_spec(timezone=timezone), "timezone")
    assert (problem.severity, problem.code) == (ERROR, "timezone_required")


@pytest.mark.parametrize(
    ("timezone", "suggestion"),
    [
        ("america/new_york", '"America/New_York"'),
        ("Europe/Pariss", '"Europe/Paris"'),
        ("Eastern Standard Time!", '"America/New_York"'),
    ],
)
def test_timezone_must_be_a_known_zone_name(timezone, suggestion):
    problem = only_problem_at(valid_spec(timezone=timezone), "timezone")
    assert (problem.severity, problem.code) == (ERROR, "timezone_invalid")
    assert suggestion in problem.message


def test_status_is_active_paused_or_unset():
    for status in ("active", "paused", None):
        assert problems_at(valid_spec(status=status), "status") == []
    problem = only_problem_at(valid_spec(status="draft"), "status")
    assert (problem.severity, problem.code) == (ERROR, "status_invalid")


def test_at_least_one_step():
    problem = only_problem_at(spec_with(), "steps")
    assert (problem.severity, problem.code) == (ERROR, "steps_required")


def test_problems_come_in_field_order():
    spec = spec_with(
        Step(None),
        email(template=None, threading="reply"),  # the first email: an invalid choice still is
        name="",
        timezone="",
        schedule=[ScheduleRange(9, "9", "10:00")],
    )
    assert [p.path for p in validate(spec)] == [
        "name",
        "timezone",
        "steps.0.step_type",
        "steps.1.email_template_id",
        "steps.1.threading",
        "schedule.0.weekday",
        "schedule.0.start",
    ]


# --- Step types and delays ------------------------------------------------------------------


def test_step_without_type():
    problem = only_problem_at(spec_with(email(), email(), Step(None)), "steps.2.step_type")
    assert (problem.severity, problem.code, problem.message) == (
        ERROR,
        "step_type_required",
        "Step 3 has no type.",
    )


def test_unknown_step_type_made_locally_is_an_error():
    problem = only_problem_at(spec_with(Step("fax")), "steps.0.step_type")
    assert (problem.severity, problem.code) == (ERROR, "step_type_unknown")
    assert "'fax'" in problem.message


TASK_STEP = {
    "id": "seqstep_task",
    "step_type": "task",
    "delay": 3600,
    "task_text": "Research the lead",
    "required": True,
    "date_created": "2024-01-01T00:00:00",
}


def test_unknown_step_type_from_close_is_kept_with_a_warning():
    data = copy.deepcopy(CLOSE_EXAMPLE_RESPONSE)
    data["steps"].append(TASK_STEP)
    spec = from_close(data)
    assert spec.steps[3].extra == TASK_STEP

    problem = only_problem_at(spec, "steps.3.step_type")
    assert (problem.severity, problem.code) == (WARNING, "step_type_kept")
    assert problem.message == "Step 4 is a Close 'task' step; Sequence Builder keeps it unchanged."


@pytest.mark.parametrize(
    "step",
    [
        # From a create request (no id), so Close has nothing to keep.
        from_close({"steps": [{k: v for k, v in TASK_STEP.items() if k != "id"}]}).steps[0],
        # An id without Close's data: we could not send it back as it was.
        Step("task", close_id="seqstep_task"),
    ],
)
def test_unknown_step_type_is_only_kept_when_close_sent_it_with_an_id(step):
    problem = only_problem_at(spec_with(step), "steps.0.step_type")
    assert (problem.severity, problem.code) == (ERROR, "step_type_unknown")


@pytest.mark.parametrize(
    ("delay", "code"),
    [
        (-1, "delay_negative"),
        (MAX_DELAY_SECONDS + 1, "delay_too_long"),
        (True, "delay_invalid"),
        ("86400", "delay_invalid"),
        (1.5, "delay_invalid"),
        (None, "delay_invalid"),
    ],
)
def test_delay_must_be_whole_seconds_from_zero_to_a_year(delay, code):
    for step in (email(delay=delay), sms(delay=delay), call(delay=delay)):
        problem = only_problem_at(spec_with(step), "steps.0.delay")
        assert (problem.severity, problem.code) == (ERROR, code)
        assert problem.message.startswith("Step 1 ")


def test_delay_limits_are_inclusive():
    for delay in (0, MAX_DELAY_SECONDS):
        assert problems_at(spec_with(call(delay=delay)), "steps.0.delay") == []


def test_delay_too_long_message_says_how_long():
    problem = only_problem_at(spec_with(call(delay=400 * 86400)), "steps.0.delay")
    assert "400 days" in problem.message


# --- Email steps ----------------------------------------------------------------------------


@pytest.mark.parametrize("template", [None, ""])
def test_email_step_needs_a_template(template):
    problem = only_problem_at(spec_with(call(), email(template)), "steps.1.email_template_id")
    assert (problem.severity, problem.code) == (ERROR, "email_template_required")
    assert problem.message == "Step 2 needs an email template."


@pytest.mark.parametrize(
    ("template", "code", "words"),
    [
        ("tmpl_gone", "template_not_synced", "not among the synced templates"),
        ("smstmpl_hi", "template_wrong_kind", '"Hi text" is not an email template'),
        ("tmpl_private", "template_not_shared", "Close refuses unshared templates in Workflows"),
        ("tmpl_old", "template_archived", '"Old intro", which is archived'),
    ],
)
def test_email_template_must_be_synced_shared_and_active(template, code, words):
    problem = only_problem_at(spec_with(email(template)), "steps.0.email_template_id")
    assert (problem.severity, problem.code) == (ERROR, code)
    assert words in problem.message


def test_not_synced_message_says_to_sync():
    problem = only_problem_at(spec_with(email("tmpl_gone")), "steps.0.email_template_id")
    assert "Sync templates" in problem.message


def test_without_templates_only_the_presence_of_a_template_is_checked():
    spec = spec_with(email("tmpl_gone", "new_thread"), email("tmpl_private"), sms("smstmpl_old"))
    assert validate(spec, None) == [] == validate(spec)


@pytest.mark.parametrize(
    ("threading", "code"), [(None, "threading_required"), ("reply", "threading_invalid")]
)
def test_email_threading_must_be_new_or_old_thread(threading, code):
    spec = spec_with(email(threading="new_thread"), email(threading=threading))
    problem = only_problem_at(spec, "steps.1.threading")
    assert (problem.severity, problem.code) == (ERROR, code)
    assert problem.message.startswith("Step 2 ")


def test_email_step_cannot_carry_an_sms_template():
    spec = spec_with(email(threading="new_thread", sms_template_id="smstmpl_hi"))
    problem = only_problem_at(spec, "steps.0.sms_template_id")
    assert (problem.severity, problem.code) == (ERROR, "unexpected_sms_template")
    assert problem.message == "Step 1 is an email step, so it cannot have an SMS template."


def test_old_thread_on_the_first_email_is_kept_and_sent_as_a_new_thread():
    """The person's choice stays stored (for when the step moves); Close gets new_thread."""
    spec = spec_with(call(), email(threading="old_thread"), email(threading="old_thread"))

    assert validate(spec, TEMPLATES) == []
    sent = [step.get("threading") for step in to_close_payload(spec)["steps"]]
    assert sent == [None, "new_thread", "old_thread"]
    assert [step.threading for step in spec.steps] == [None, "old_thread", "old_thread"]
    moved_back = spec_with(call(), email("tmpl_a", "new_thread"), spec.steps[1])
    assert to_close_payload(moved_back)["steps"][2]["threading"] == "old_thread"


# --- SMS and call steps ---------------------------------------------------------------------


def test_sms_step_needs_a_template():
    problem = only_problem_at(spec_with(sms(None)), "steps.0.sms_template_id")
    assert (problem.severity, problem.code) == (ERROR, "sms_template_required")
    assert problem.message == "Step 1 needs an SMS template."


@pytest.mark.parametrize(
    ("template", "code"),
    [
        ("smstmpl_gone", "template_not_synced"),
        ("tmpl_intro", "template_wrong_kind"),
        ("smstmpl_private", "template_not_shared"),
        ("smstmpl_old", "template_archived"),
    ],
)
def test_sms_template_must_be_synced_shared_and_active(template, code):
    problem = only_problem_at(spec_with(sms(template)), "steps.0.sms_template_id")
    assert (problem.severity, problem.code) == (ERROR, code)


def test_sms_step_has_no_threading_and_no_email_template():
    spec = spec_with(sms(threading="new_thread", email_template_id="tmpl_intro"))
    assert [(p.path, p.code) for p in validate(spec, TEMPLATES)] == [
        ("steps.0.email_template_id", "unexpected_email_template"),
        ("steps.0.threading", "unexpected_threading"),
    ]


def test_call_step_has_no_templates_and_no_threading():
    spec = spec_with(
        call(email_template_id="tmpl_intro", sms_template_id="smstmpl_hi", threading="old_thread")
    )
    problems = validate(spec, TEMPLATES)
    assert [(p.path, p.severity, p.code) for p in problems] == [
        ("steps.0.email_template_id", ERROR, "unexpected_email_template"),
        ("steps.0.sms_template_id", ERROR, "unexpected_sms_template"),
        ("steps.0.threading", ERROR, "unexpected_threading"),
    ]
    assert problems[0].message == "Step 1 is a call step, so it cannot have an email template."


def test_call_steps_are_always_required_one_rule_for_every_way_in():
    """No choice Close does not allow: require_calls stores it, the payload sends it."""
    spec = spec_with(call(required=False), email(threading="new_thread"), call())

    sent = to_close_payload(spec)["steps"][0]["required"]
    notes = require_calls(spec)

    assert sent is True
    assert validate(spec, TEMPLATES) == []
    assert [step.required for step in spec.steps] == [True, True, True]
    assert notes == [
        "Step 1 is a call marked not required; Close's call steps are always required, "
        "so it is required here."
    ]
    assert require_calls(spec) == []


# --- Schedule -------------------------------------------------------------------------------


def schedule_problems(*ranges):
    return [(p.path, p.severity, p.code) for p in validate(valid_spec(schedule=list(ranges)))]


def test_no_schedule_means_any_time_without_problems():
    assert validate(valid_spec(schedule=None), TEMPLATES) == []


def test_empty_schedule_is_an_error():
    problem = only_problem_at(valid_spec(schedule=[]), "schedule")
    assert (problem.severity, problem.code) == (ERROR, "schedule_empty")
    assert problem.message == (
        "No sending hours: Close would never send these steps. Paint some sending hours, "
        "or choose “Send at any time”."
    )


@pytest.mark.parametrize("weekday", [0, 8, "1", True, None])
def test_weekday_must_be_1_to_7(weekday):
    ranges = [*WEEKDAYS_9_TO_5, ScheduleRange(weekday, "09:00", "12:00")]
    assert schedule_problems(*ranges) == [("schedule.5.weekday", ERROR, "weekday_invalid")]


def test_sunday_is_weekday_7():
    assert schedule_problems(ScheduleRange(7, "10:00", "14:00")) == []


@pytest.mark.parametrize("time", ["9:00", "24:00", "12:60", "09:00:00", "", None, 900])
def test_times_must_be_hh_mm(time):
    assert schedule_problems(ScheduleRange(1, time, "16:59"), ScheduleRange(2, "00:00", time)) == [
        ("schedule.0.start", ERROR, "time_invalid"),
        ("schedule.1.end", ERROR, "time_invalid"),
    ]


def test_time_message_names_the_day_and_the_format():
    problem = only_problem_at(
        valid_spec(schedule=[ScheduleRange(2, "9am", "16:59")]), "schedule.0.start"
    )
    assert problem.message.startswith('Sending hours on Tuesday: the start time "9am"')
    assert "HH:MM" in problem.message


@pytest.mark.parametrize(("start", "end"), [("17:00", "09:00"), ("09:00", "09:00")])
def test_start_must_be_before_end(start, end):
    assert schedule_problems(ScheduleRange(1, start, end)) == [
        ("schedule.0.end", ERROR, "range_end_before_start")
    ]


def test_overlapping_ranges_on_one_day_are_an_error():
    # The end minute is inclusive, so ranges that share 12:00 overlap.
    ranges = [
        ScheduleRange(1, "09:00", "12:00"),
        ScheduleRange(2, "12:00", "16:59"),
        ScheduleRange(1, "12:00", "16:59"),
    ]
    assert schedule_problems(*ranges) == [("schedule.2", ERROR, "ranges_overlap")]
    problem = only_problem_at(valid_spec(schedule=ranges), "schedule.2")
    assert "Monday" in problem.message and "09:00–12:00" in problem.message


def test_several_separate_ranges_on_one_day_are_a_warning_once_per_day():
    ranges = [
        ScheduleRange(1, "09:00", "11:59"),
        ScheduleRange(1, "13:00", "14:59"),
        ScheduleRange(1, "16:00", "16:59"),
        ScheduleRange(2, "09:00", "16:59"),
    ]
    assert schedule_problems(*ranges) == [("schedule.1", WARNING, "several_ranges_per_day")]


def test_blocking_keeps_only_errors():
    warning = Problem("schedule", WARNING, "w", "schedule_empty")
    error = Problem("name", ERROR, "e", "name_required")
    assert blocking([warning, error, warning]) == [error]


# --- Payloads -------------------------------------------------------------------------------


def test_payload_shape_per_step_type():
    payload = to_close_payload(valid_spec(status="paused"))
    assert payload == {
        "name": "Q3 outbound",
        "timezone": "America/New_York",
        "status": "paused",
        "schedule": {
            "ranges": [{"weekday": d, "start": "09:00", "end": "16:59"} for d in range(1, 6)]
        },
        "steps": [
            {
                "step_type": "email",
                "delay": 0,
                "email_template_id": "tmpl_intro",
                "threading": "new_thread",
            },
            {"step_type": "call", "delay": 86400, "required": True},
            {"step_type": "sms", "delay": 172800, "sms_template_id": "smstmpl_hi"},
        ],
    }


def test_payload_leaves_out_unset_schedule_and_status():
    payload = to_close_payload(valid_spec(schedule=None, status=None))
    assert set(payload) == {"name", "timezone", "steps"}
    assert to_close_payload(valid_spec(schedule=[]))["schedule"] == {"ranges": []}


def test_create_payload_has_no_ids():
    spec = from_close(CLOSE_EXAMPLE_RESPONSE)
    assert all("id" not in step for step in to_close_payload(spec)["steps"])


def test_update_payload_keeps_step_ids_and_sends_unknown_steps_back_by_id():
    data = copy.deepcopy(CLOSE_EXAMPLE_RESPONSE)
    data["steps"].insert(1, TASK_STEP)
    spec = from_close(data)
    spec.steps.append(sms(delay=3600))  # a new step has no id yet

    steps = to_close_update_payload(spec)["steps"]

    assert steps == [
        {"id": "seqstep_27RRKBOqqsaDLfv3DC2j4w", "step_type": "call", "delay": 0, "required": True},
        {"id": "seqstep_task"},  # Close documents a bare id as "keep this step unchanged"
        {
            "id": "seqstep_6MEzpiQOFmXUspWL50qm9G",
            "step_type": "email",
            "delay": 86400,
            "email_template_id": "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn",
            "threading": "new_thread",  # the first email starts the thread
        },
        {
            "id": "seqstep_3EhVVniW2ks6w740LMcivm",
            "step_type": "email",
            "delay": 259200,
            "email_template_id": "tmpl_l12k3as9d008324ljeANFTyS239048asdFdsVfnzaln",
            "threading": "old_thread",
        },
        {"step_type": "sms", "delay": 3600, "sms_template_id": "smstmpl_hi"},
    ]
    assert spec.steps[1].extra == TASK_STEP  # untouched by building the payload


def test_update_payload_clears_the_schedule_when_set_to_any_time():
    # PUT patches: a missing "schedule" key would keep the old sending hours.
    assert to_close_update_payload(valid_spec(schedule=None))["schedule"] is None
    assert (
        to_close_update_payload(valid_spec())["schedule"]
        == to_close_payload(valid_spec())["schedule"]
    )


def test_create_payload_copies_an_imported_unknown_step_without_close_bookkeeping():
    spec = spec_with(from_close({"steps": [TASK_STEP]}).steps[0])
    [step] = to_close_payload(spec)["steps"]
    assert step == {
        "step_type": "task",
        "delay": 3600,
        "task_text": "Research the lead",
        "required": True,
    }


# --- Editor helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "parts", "text"),
    [
        (0, (0, 0, 0), "immediately"),
        (86400, (1, 0, 0), "1 day"),
        (2 * 86400 + 3 * 3600, (2, 3, 0), "2 days 3 hours"),
        (45 * 60, (0, 0, 45), "45 minutes"),
        (86400 + 3600 + 60, (1, 1, 1), "1 day 1 hour 1 minute"),
        (90, (0, 0, 1), "1 minute 30 seconds"),
        (MAX_DELAY_SECONDS, (365, 0, 0), "365 days"),
    ],
)
def test_split_and_describe_delay(seconds, parts, text):
    assert split_delay(seconds) == parts
    assert describe_delay(seconds) == text


def test_join_delay_accepts_unnormalised_parts():
    assert join_delay(1, 2, 3) == 86400 + 7200 + 180
    assert join_delay(0, 36, 90) == 36 * 3600 + 90 * 60


def test_describe_delay_refuses_negative_delays():
    with pytest.raises(ValueError, match="negative"):
        describe_delay(-60)


def test_weekday_names():
    assert [weekday_name(d) for d in (1, 7)] == ["Monday", "Sunday"]
    with pytest.raises(ValueError):
        weekday_name(0)


@pytest.mark.parametrize(
    ("ranges", "text"),
    [
        (None, "Any time"),
        ([], "No sending hours"),
        (WEEKDAYS_9_TO_5, "Mon–Fri 09:00–16:59"),
        (list(reversed(WEEKDAYS_9_TO_5)), "Mon–Fri 09:00–16:59"),
        (
            [
                ScheduleRange(1, "09:00", "12:00"),
                ScheduleRange(2, "13:00", "14:59"),
                ScheduleRange(3, "09:00", "12:00"),
            ],
            "Mon, Wed 09:00–12:00; Tue 13:00–14:59",
        ),
        (
            [ScheduleRange(6, "10:00", "13:59"), ScheduleRange(7, "10:00", "13:59")],
            "Sat, Sun 10:00–13:59",
        ),
        (
            [
                *WEEKDAYS_9_TO_5[:3],
                ScheduleRange(5, "09:00", "16:59"),
                ScheduleRange(4, "09:00", "11:59"),
            ],
            "Mon–Wed, Fri 09:00–16:59; Thu 09:00–11:59",
        ),
        (
            [ScheduleRange(1, "13:00", "16:59"), ScheduleRange(1, "09:00", "11:59")],
            "Mon 09:00–11:59 and 13:00–16:59",
        ),
        ([ScheduleRange(9, "09:00", "10:00")], "day 9 09:00–10:00"),
    ],
)
def test_describe_schedule(ranges, text):
    assert describe_schedule(ranges) == text


def test_first_email_index():
    assert first_email_index([call(), sms(), email(), email()]) == 2
    assert first_email_index([call(), sms()]) is None
    assert first_email_index([]) is None


def test_apply_threading_rule_forces_only_the_first_email_to_a_new_thread():
    steps = [call(), email("tmpl_a", "old_thread"), email("tmpl_b", "old_thread")]
    result = apply_threading_rule(steps)
    assert [s.threading for s in result] == [None, "new_thread", "old_thread"]
    assert steps[1].threading == "old_thread"  # the input is not changed


def test_apply_threading_rule_after_a_reorder():
    first, second = email("tmpl_a", "old_thread"), email("tmpl_b", "old_thread")
    steps = apply_threading_rule([first, second])
    moved = apply_threading_rule([steps[1], steps[0]])
    # tmpl_b is now the first email and starts the thread; tmpl_a keeps what it had.
    assert [(s.email_template_id, s.threading) for s in moved] == [
        ("tmpl_b", "new_thread"),
        ("tmpl_a", "new_thread"),
    ]
    assert apply_threading_rule([call(), sms()]) == [call(), sms()]


# --- Properties -----------------------------------------------------------------------------


@given(st.integers(0, MAX_DELAY_SECONDS // 60))
def test_join_undoes_split_for_whole_minutes(minutes):
    seconds = minutes * 60
    days, hours, mins = split_delay(seconds)
    assert 0 <= hours < 24 and 0 <= mins < 60
    assert join_delay(days, hours, mins) == seconds


@given(st.integers(0, MAX_DELAY_SECONDS))
def test_split_drops_only_leftover_seconds(seconds):
    assert 0 <= seconds - join_delay(*split_delay(seconds)) < 60


delays = st.integers(0, MAX_DELAY_SECONDS)
email_templates = st.sampled_from(["tmpl_intro", "tmpl_x"])
valid_steps = st.one_of(
    st.builds(email, template=email_templates, threading=st.sampled_from(THREADING), delay=delays),
    st.builds(sms, template=st.sampled_from(["smstmpl_hi", "smstmpl_y"]), delay=delays),
    st.builds(call, delay=delays),
)
hours = st.integers(0, 24 * 60 - 2).flatmap(  # minutes after midnight, start < end
    lambda start: st.tuples(st.just(start), st.integers(start + 1, 24 * 60 - 1))
)


@st.composite
def valid_schedules(draw):
    # At least one day: no hours at all is only valid as "any time" (schedule None).
    days = draw(st.lists(st.integers(1, 7), unique=True, min_size=1, max_size=7))
    ranges = []
    for day in days:
        start, end = draw(hours)
        ranges.append(
            ScheduleRange(day, f"{start // 60:02}:{start % 60:02}", f"{end // 60:02}:{end % 60:02}")
        )
    return ranges


valid_specs = st.builds(
    SequenceSpec,
    name=st.text(min_size=1, max_size=200).filter(str.strip),
    timezone=st.sampled_from(["America/Los_Angeles", "Europe/Berlin", "UTC", "US/Eastern"]),
    steps=st.lists(valid_steps, min_size=1, max_size=8),
    schedule=st.none() | valid_schedules(),
    status=st.sampled_from([None, "active", "paused"]),
)


@given(valid_specs)
def test_generated_specs_are_valid_and_survive_a_trip_through_close_json(spec):
    assert blocking(validate(spec)) == []
    # Close gets (and sends back) the first email starting the thread, whatever it stores.
    assert from_close(to_close_payload(spec)) == dataclasses.replace(
        spec, steps=apply_threading_rule(spec.steps)
    )


scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
junk_steps = st.fixed_dictionaries(
    {},
    optional={
        key: scalars | st.sampled_from(values)
        for key, values in {
            "step_type": [*STEP_TYPES, "task"],
            "delay": [0, 86400],
            "email_template_id": list(TEMPLATES),
            "sms_template_id": list(TEMPLATES),
            "threading": list(THREADING),
            "required": [True],
            "id": ["seqstep_1"],
        }.items()
    },
)
junk_ranges = st.fixed_dictionaries(
    {"weekday": scalars | st.integers(1, 7), "start": scalars | st.just("09:00"), "end": scalars}
)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "name": scalars,
            "timezone": scalars,
            "status": scalars,
            "steps": st.lists(junk_steps, max_size=4),
            "schedule": st.none()
            | st.fixed_dictionaries({"ranges": st.lists(junk_ranges, max_size=4)}),
        },
    )
)
def test_anything_close_shaped_parses_validates_and_describes_without_crashing(data):
    spec = from_close(data)
    for problem in validate(spec, TEMPLATES):
        assert problem.severity in (ERROR, WARNING)
        # Python's None must never leak into a message; a user's own text "None" may be quoted.
        assert problem.message
        assert "None" not in problem.message or "None" in repr(data)
    describe_schedule(spec.schedule)
    to_close_payload(spec)
    to_close_update_payload(spec)


def test_snapshot_round_trip_is_exact():
    original = from_close(
        {
            "name": "Snap",
            "timezone": "Europe/Paris",
            "schedule": {"ranges": [{"weekday": 2, "start": "10:00", "end": "11:59"}]},
            "steps": [
                {"id": "seqstep_a", "step_type": "call", "delay": 0, "required": True},
                {"id": "seqstep_b", "step_type": "task", "delay": 60, "note": "x"},
            ],
        }
    )

    snapshot = to_snapshot(original)

    assert json.loads(json.dumps(snapshot)) == snapshot
    assert from_snapshot(snapshot) == original


def test_edited_delay_keeps_the_seconds_the_boxes_cannot_show():
    imported = 90061  # 1 day 1 hour 1 minute 1 second
    assert leftover_seconds(imported) == 1
    assert edited_delay(*split_delay(imported), previous=imported) == imported
    assert edited_delay(1, 2, 1, previous=imported) == 93661  # Hours 1 -> 2: +3600 s only
    assert edited_delay(1, 2, 1, previous=86400) == 86400 + 7200 + 60


def test_the_first_email_needs_no_threading_choice_of_its_own():
    """Its box is locked in the editor, so a missing choice there must not block publishing."""
    spec = spec_with(call(), email(threading=None), email(threading=None))

    problems = validate(spec, TEMPLATES)

    assert [(p.path, p.code) for p in problems] == [("steps.2.threading", "threading_required")]
    assert to_close_payload(spec)["steps"][1]["threading"] == "new_thread"


# --- Issue 11: no sending hours ----------------------------------------------------------------


def test_an_empty_schedule_blocks_publishing_and_says_how_to_send_at_any_time():
    problems = validate(valid_spec(schedule=[]), TEMPLATES)

    assert [(p.path, p.severity, p.code) for p in problems] == [
        ("schedule", ERROR, "schedule_empty")
    ]
    assert blocking(problems) == problems
    assert "Close would never send these steps" in problems[0].message
    assert "Send at any time" in problems[0].message


def test_send_at_any_time_is_the_way_to_have_no_hours():
    assert validate(valid_spec(schedule=None), TEMPLATES) == []


# --- Issue 11: timezone names people type -----------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("PST", "America/Los_Angeles"),
        ("pacific", "America/Los_Angeles"),
        ("US/Pacific", "America/Los_Angeles"),
        ("us/pacific", "America/Los_Angeles"),
        ("Pacific Time", "America/Los_Angeles"),
        ("eastern", "America/New_York"),
        ("EST", "America/New_York"),
        ("EDT", "America/New_York"),
        ("US/Eastern", "America/New_York"),
        ("central", "America/Chicago"),
        ("MST", "America/Denver"),
        ("CET", "Europe/Berlin"),
        ("utc", "UTC"),
        ("GMT", "UTC"),
        ("Etc/UTC", "UTC"),
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("europe/paris", "Europe/Paris"),
        (" america/new york ", "America/New_York"),
        ("Tokyo", "Asia/Tokyo"),
        ("new york", "America/New_York"),
    ],
)
def test_common_timezone_names_and_aliases_map_to_canonical_iana_names(typed, canonical):
    from builder.spec import canonical_timezone

    assert canonical_timezone(typed) == canonical


@pytest.mark.parametrize("typed", ["", "Mars/Olympus", "Pacific/", "America"])
def test_what_is_no_timezone_has_no_canonical_name(typed):
    from builder.spec import canonical_timezone

    assert canonical_timezone(typed) is None


def test_an_alias_left_in_a_spec_is_named_with_its_iana_name():
    problem = only_problem_at(valid_spec(timezone="PST"), "timezone")

    assert problem.code == "timezone_invalid"
    assert 'Did you mean "America/Los_Angeles"?' in problem.message


def test_a_misspelt_timezone_gets_several_suggestions():
    from builder.spec import suggest_timezones

    assert suggest_timezones("Europe/Pari")[0] == "Europe/Paris"
    assert "America/New_York" in suggest_timezones("America/New_Yrok")
    assert len(suggest_timezones("a")) <= 3


# --- The per-step check cache -----------------------------------------------------------------


def test_cached_step_checks_follow_every_input_they_read():
    """Validation reuses a step's problems while nothing it reads changed: its values, its
    place, and the templates it names."""
    step = spec.Step("email", email_template_id="tmpl_a", threading="new_thread")
    sequence = spec.SequenceSpec(name="Cache", timezone="Europe/Berlin", steps=[step])
    shared = {"tmpl_a": spec.TemplateInfo("tmpl_a", "email", "Intro", True, False)}
    unshared = {"tmpl_a": spec.TemplateInfo("tmpl_a", "email", "Intro", False, False)}

    assert spec.validate(sequence, shared) == []
    assert [p.code for p in spec.validate(sequence, unshared)] == ["template_not_shared"]
    assert spec.validate(sequence, shared) == []
    step.delay = -1  # changed in place, as the editor's objects are
    assert [p.code for p in spec.validate(sequence, shared)] == ["delay_negative"]
    sequence.steps.insert(0, spec.Step("call"))  # the same step, now step 2
    assert [p.message for p in spec.validate(sequence, shared)] == [
        "Step 2 cannot wait a negative time."
    ]
