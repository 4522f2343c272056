"""`make bench` rows for the step list (issue 10): does an edit cost the same at 200 steps as at 10?

Called by scripts/bench.py (`measure(bench)`) on its seeded data, on SQLite and on PostgreSQL,
with production settings and the whole middleware stack (Django's test client, like the other
rows). Every request is the one the page sends, to the app's own endpoints:

- "Add step" (htmx POST /steps/add/ with the page's version) on a sequence of 9 and of 199
  steps: the timed add makes it 10 (200, the limit); after each one the new step is removed
  again through "Remove step" (not timed), so every add starts from the same sequence.
- "Move up" (htmx POST /steps/<id>/move/) at 200 steps, a step in the middle, up then down.
- One autosave (htmx POST /steps/<id>/ of a card's wait) at 200 steps.
- The editor page (GET) at 50 and at 200 steps (fresh sequences: one revision, no comments),
  at 50 steps that are all written emails (issue 13), and the log-in page (GET, anonymous): the
  page that does almost nothing, for scale.

Every email and SMS step holds written copy, as new steps do (issue 13): an email a subject and
a body of about 1 KB (merge fields with fallbacks where Close needs one, a list, a link), an SMS
a message with a merge field. Each step's copy differs a little (its number), like a real
sequence's; the copy is valid, so the problems panel stays as short as a finished draft's.

The editor pages at 50 steps (both) and the log-in page are also loaded in headless Chromium by
bench.py (scripts/bench_pages.py), against the production gunicorn of the same run: each of
those rows carries a "page" (its Chromium row's key, name and path), and bench.py adds the rows
PAGES_LOGIN, PAGES_EDITOR_50 and PAGES_EDITOR_50_WRITTEN (navigation start → load event end).

The same add sequences are then clicked in Chromium by bench.py, on the same server: "Add call
step" from the click to the settled page (scripts/bench_pages.py step_adds), the rows
CLICKS_ADD_10 and CLICKS_ADD_200.

`ratios(results)` words the ratios the issue asks for, per database, as issue 10 measured them
in Chromium: add@200 / add@10 click → settled (target at most 1.5x) and editor page @50 p50 /
log-in page p50, page load (target at most 3x); the same ratios of the in-process rows (server
time only) follow, for reference, with no target. BENCHMARKS.md has the calibration: on the
commit issue 10 was filed against, only the browser reproduces its figures (add 134 ms at 10
steps, 4.9 s at 200; page 4.6x).
"""

import random
import time

REPEATS = 30
MIN_REPEATS = 10
TIME_BUDGET = 15.0  # seconds per row once MIN_REPEATS are in (a slow row stops early)
WARMUP = 3

ADD_10, ADD_200 = "steps_add_10", "steps_add_200"
MOVE_200, AUTOSAVE_200 = "steps_move_200", "steps_autosave_200"
EDITOR_50, EDITOR_200, LOGIN = "steps_editor_50", "steps_editor_200", "steps_login"
EDITOR_50_WRITTEN = "steps_editor_50_written"
# Rows bench.py measures in Chromium (scripts/bench_pages.py) for the pages below.
PAGES_LOGIN, PAGES_EDITOR_50 = "pages_login", "pages_editor_50"
PAGES_EDITOR_50_WRITTEN = "pages_editor_50_written"
CLICKS_ADD_10, CLICKS_ADD_200 = "clicks_add_10", "clicks_add_200"
BROWSER = "page load in Chromium"
SERVER_ONLY = "server time only (in-process), for reference"
# (what, numerator row, denominator row, target or None for a figure given for reference)
RATIOS = [
    (
        "add step at 200 steps / at 10 steps, click → settled in Chromium",
        CLICKS_ADD_200,
        CLICKS_ADD_10,
        1.5,
    ),
    (f"editor page at 50 steps / log-in page, {BROWSER}", PAGES_EDITOR_50, PAGES_LOGIN, 3.0),
    (
        f"editor page at 50 written emails / log-in page, {BROWSER}",
        PAGES_EDITOR_50_WRITTEN,
        PAGES_LOGIN,
        3.0,
    ),
    (f"add step at 200 steps / at 10 steps, {SERVER_ONLY}", ADD_200, ADD_10, None),
    (f"editor page at 50 steps / log-in page, {SERVER_ONLY}", EDITOR_50, LOGIN, None),
    (
        f"editor page at 50 written emails / log-in page, {SERVER_ONLY}",
        EDITOR_50_WRITTEN,
        LOGIN,
        None,
    ),
]
# A written email's body (about 1 KB of the editor's HTML subset); {n} is the step's number.
BODY = (
    '<div>Hi {{{{ contact.first_name | default:"there" }}}},</div>'
    "<div>I noticed {{{{ lead.display_name }}}} has been hiring for sales roles, so I thought "
    "this might be useful (note {n}). Teams at your stage usually care about three things:</div>"
    "<ul><li><strong>Faster follow-ups</strong> without losing the personal touch</li>"
    "<li>Clean handoffs between reps when someone is out of the office</li>"
    "<li>Reporting that shows <em>which</em> emails actually get replies</li></ul>"
    "<div>We wrote up how a team much like yours cut its response time in half: "
    '<a href="https://example.com/case-studies/response-time" rel="noopener noreferrer">'
    "read the case study</a>. It takes "
    "about four minutes and has the real numbers, not just the headline.</div>"
    "<div>Would a short call next week make sense? If the timing is wrong, just tell me and I "
    "will stop writing; otherwise reply with a time that suits you and I will send an "
    "invitation.</div><div>Best regards,<br>{{{{ user.first_name }}}}</div>"
)
SMS_TEXT = (
    'Hi {{{{ contact.first_name | default:"there" }}}}, it is {{{{ user.first_name }}}} '
    "again (note {n}). Did my email reach you? Happy to answer any question here."
)


def measure(bench):
    from django.test import Client
    from django.urls import reverse

    user = bench.users[0]
    rng = random.Random(10)
    rows = []

    def row(key, name, timed, note):
        samples, queries = timed
        rows.append(
            {"key": key, "name": name, "samples_ms": samples, "queries": queries, "note": note}
        )

    for count, key in [(10, ADD_10), (200, ADD_200)]:
        sequence = _sequence(f"Add-step bench ({count})", count - 1, user, rng, bench)
        row(
            key,
            f"Add step at {count} steps (htmx POST, {count - 1} → {count})",
            _time_edits(bench, sequence, _add(sequence), undo=_remove_last(sequence)),
            f"POST {reverse('step_add', args=[sequence.pk])}; queries per add",
        )
        # The same sequence, back at count - 1 steps: bench.py clicks its "Add call step".
        editor = reverse("sequence_edit", args=[sequence.pk])
        rows[-1]["page"] = _page(key, editor, logged_in=True, click="add")

    sequence = _sequence("Move-step bench (200)", 200, user, rng, bench)
    row(
        MOVE_200,
        "Move step at 200 steps (htmx POST Move up / Move down)",
        _time_edits(bench, sequence, _move(sequence)),
        "step 100 up, then back down; queries per move",
    )
    row(
        AUTOSAVE_200,
        "Autosave one step at 200 steps (htmx POST of a card's wait)",
        _time_edits(bench, sequence, _autosave(sequence)),
        "queries per autosave (step update)",
    )

    pages = [
        (EDITOR_50, "Editor page at 50 steps (GET)", 50, None),
        (EDITOR_200, "Editor page at 200 steps (GET)", 200, None),
        (EDITOR_50_WRITTEN, "Editor page at 50 steps, 50 written emails (GET)", 50, "email"),
    ]
    for key, name, count, only in pages:
        fresh = _sequence(f"Editor-page bench ({name})", count, user, rng, bench, only=only)
        url = reverse("sequence_edit", args=[fresh.pk])
        row(
            key,
            name,
            bench.time(lambda url=url: bench.client.get(url), repeats=REPEATS),
            f"route {url}",
        )
        if key in IN_CHROMIUM:
            rows[-1]["page"] = _page(key, url, logged_in=True)

    anonymous = Client()
    login = reverse("login")
    row(
        LOGIN,
        "Log-in page (GET, anonymous)",
        bench.time(lambda: anonymous.get(login), repeats=REPEATS),
        f"route {login}; for scale",
    )
    rows[-1]["page"] = _page(LOGIN, login, logged_in=False)
    return rows


# The pages bench.py also loads in Chromium, and the names of those rows; for the adds, the editor
# page in which it clicks "Add call step" ("click": "add", scripts/bench_pages.py step_adds).
IN_CHROMIUM = {
    ADD_10: (CLICKS_ADD_10, "Add call step at 10 steps in Chromium (click → settled)"),
    ADD_200: (CLICKS_ADD_200, "Add call step at 200 steps in Chromium (click → settled)"),
    LOGIN: (PAGES_LOGIN, "Log-in page in Chromium (load)"),
    EDITOR_50: (PAGES_EDITOR_50, "Editor page at 50 steps in Chromium (load)"),
    EDITOR_50_WRITTEN: (
        PAGES_EDITOR_50_WRITTEN,
        "Editor page at 50 written emails in Chromium (load)",
    ),
}


def _page(key, path, *, logged_in, click=None):
    """What bench.py needs to load this page in Chromium, or with `click` ("add"), to click its
    "Add call step" (bench_pages.py)."""
    page_key, name = IN_CHROMIUM[key]
    page = {"key": page_key, "name": name, "path": path, "logged_in": logged_in}
    return page | ({"click": click} if click else {})


def ratios(results, labels, p50):
    """Lines saying each ratio per database: p50 over p50 (`p50(samples)`, the table's own), and
    whether it meets the target; a ratio given for reference has no target and no verdict. A
    row that was not measured (no Chromium) says so instead of a figure."""
    lines = []
    for what, top, bottom, target in RATIOS:
        parts = []
        for database, measured in results.items():
            label = labels.get(database, database)
            found = {row["key"]: row for row in measured["rows"]}
            if top not in found or bottom not in found:
                continue
            missing = [r for r in (found[top], found[bottom]) if not _measured(r)]
            if missing:
                parts.append(f"{label} {missing[0].get('note') or 'not measured'}")
                continue
            ratio = p50(found[top]["samples_ms"]) / p50(found[bottom]["samples_ms"])
            if target is None:
                parts.append(f"{label} {ratio:.2f}x")
            else:
                verdict = "met" if ratio <= target else "NOT met"
                parts.append(f"{label} {ratio:.2f}x ({verdict})")
        if not parts:
            continue
        if target is None:
            tail = "No target: issue 10 measured in Chromium (above)."
        else:
            tail = f"Target at most {target:g}x."
        lines.append(f"- {what}, p50: {'; '.join(parts)}. {tail}")
    return lines


def _measured(row):
    return not row.get("missing") and bool(row["samples_ms"])


# --- Requests ----------------------------------------------------------------------------------
def _add(sequence):
    from django.urls import reverse

    path = reverse("step_add", args=[sequence.pk])
    return lambda client, version: client.post(
        path, {"version": version, "step_type": "call"}, HTTP_HX_REQUEST="true"
    )


def _remove_last(sequence):
    from django.urls import reverse

    def remove(client, version):
        path = reverse("step_remove", args=[sequence.pk, _last(sequence).pk])
        return client.post(path, {"version": version}, HTTP_HX_REQUEST="true")

    return remove


def _move(sequence):
    from django.urls import reverse

    step = _steps(sequence)[99]
    path = reverse("step_move", args=[sequence.pk, step.pk])
    state = {"up": False}

    def move(client, version):
        state["up"] = not state["up"]
        direction = "up" if state["up"] else "down"
        return client.post(
            path, {"version": version, "direction": direction}, HTTP_HX_REQUEST="true"
        )

    return move


def _autosave(sequence):
    from django.urls import reverse

    step = _steps(sequence)[100]
    path = reverse("step_update", args=[sequence.pk, step.pk])
    state = {"count": 0}

    def save(client, version):
        state["count"] += 1
        data = {
            "version": version,
            "days": "0",
            "hours": str(2 + state["count"] % 22),
            "minutes": "0",
            "required": "on",
        }
        return client.post(path, data, HTTP_HX_REQUEST="true")

    return save


def _time_edits(bench, sequence, edit, *, undo=None):
    """Like Bench.time, for an edit: each request sends the version the page would hold now.

    `undo` (not timed) puts the sequence back after each edit. (samples in ms, queries of one)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def once(timed=True):
        version = str(_version(sequence))
        started = time.perf_counter()
        response = edit(bench.client, version)
        elapsed = (time.perf_counter() - started) * 1000
        _expect_200(response)
        if undo is not None:
            _expect_200(undo(bench.client, str(_version(sequence))))
        return elapsed

    for _ in range(WARMUP):
        once()
    samples = []
    budget_ends = time.perf_counter() + TIME_BUDGET
    for _ in range(REPEATS):
        samples.append(once())
        if len(samples) >= MIN_REPEATS and time.perf_counter() > budget_ends:
            break
    version = str(_version(sequence))
    with CaptureQueriesContext(connection) as queries:
        _expect_200(edit(bench.client, version))
    # Counted now: the captured queries are read from the connection's log, which the next
    # request (the undo) starts afresh.
    count = len(queries)
    if undo is not None:
        _expect_200(undo(bench.client, str(_version(sequence))))
    return samples, count


def _expect_200(response):
    # A refused edit (422, 409) would be a fast wrong answer, not a figure.
    if response.status_code != 200:
        raise RuntimeError(f"bench_steps: request answered {response.status_code}")
    return response


# --- Data --------------------------------------------------------------------------------------
def _sequence(name, count, user, rng, bench, *, only=None):
    """A draft with `count` steps like a real one (a call first, then emails, calls and SMS,
    every email and SMS written in the step), or `only` steps of that kind."""
    from builder.models import Sequence, Step

    sequence = Sequence.create_draft(name=name, timezone_name="America/New_York", user=user)
    steps = []
    for position in range(count):
        kind = only or ("call" if position == 0 else rng.choice(["email", "email", "call", "sms"]))
        first_email = kind == "email" and not any(s.step_type == "email" for s in steps)
        steps.append(
            Step(
                sequence=sequence,
                position=position,
                step_type=kind,
                delay=0 if position == 0 else rng.choice([3600, 86400, 2 * 86400]),
                threading=_threading(kind, first_email),
                required=True,
                **_copy(kind, position + 1, first_email),
            )
        )
    Step.objects.bulk_create(steps)
    sequence.refresh_from_db()
    return sequence


def _copy(kind, number, first_email):
    """A written step's copy (see BODY): a reply keeps its thread's subject half the time."""
    if kind == "email":
        subject = f"Quick question about your sales team ({number})"
        return {
            "content_source": "written",
            "subject": subject if first_email or number % 2 else "",
            "body": BODY.format(n=number),
        }
    if kind == "sms":
        return {"content_source": "written", "text": SMS_TEXT.format(n=number)}
    return {}


def _threading(kind, first_email):
    if kind != "email":
        return ""
    return "new_thread" if first_email else "old_thread"  # Close: the first email starts one


def _steps(sequence):
    from builder.models import Step

    return list(Step.objects.filter(sequence=sequence).order_by("position", "pk"))


def _last(sequence):
    return _steps(sequence)[-1]


def _version(sequence):
    from builder.models import Sequence

    return Sequence.objects.values_list("version", flat=True).get(pk=sequence.pk)
