"""A person paints sending hours on the Schedule page with a mouse, then with the keyboard only."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from builder import permissions
from builder.models import ScheduleRange, Sequence
from tests.browser.navigation import follow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MON_TO_THU_9_TO_5 = [(day, "09:00", "16:59") for day in range(1, 5)]


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """The role groups come from a data migration, and a transactional test's flush deletes
    them: without this only the first browser test of a run would have an Editor."""
    for role in permissions.ROLES:
        Group.objects.get_or_create(name=role)


@pytest.fixture
def no_hours(example_sequence):
    """Close's example with its sending hours cleared: an empty grid to paint on."""
    example_sequence.schedule_ranges.all().delete()
    return example_sequence


def open_schedule(page, live_server, sequence):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-password-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/sequences/{sequence.pk}/schedule/")


def cell(page, name):
    return page.get_by_role("gridcell", name=name, exact=True)


def painted(page):
    return page.eval_on_selector_all(
        'td[role="gridcell"][aria-selected="true"]', "cells => cells.map(c => c.ariaLabel)"
    )


def saved(sequence):
    return [
        (r.weekday, f"{r.start:%H:%M}", f"{r.end:%H:%M}")
        for r in ScheduleRange.objects.filter(sequence=sequence)
    ]


def summary(page):
    return page.locator("#schedule-summary .summary")


def status(page):
    return page.locator("#save-status")


def autosaved(page, text):
    """Wait until the status line says the last change is saved, and says what it was."""
    expect(status(page)).to_contain_text("Saved")
    expect(status(page)).to_contain_text(text)


def save_and_reload(page, sequence, change):
    """The page saves by itself: wait for the status line, then check a reload shows the same."""
    before = painted(page)
    autosaved(page, change)
    page.reload()
    assert painted(page) == before
    return before


def test_paint_by_dragging_apply_preset_erase_friday_and_reload(page, live_server, no_hours):
    open_schedule(page, live_server, no_hours)

    cell(page, "Tuesday 10:00").hover()
    page.mouse.down()
    cell(page, "Tuesday 11:30").hover()
    page.mouse.up()

    assert painted(page) == [f"Tuesday {t}" for t in ("10:00", "10:30", "11:00", "11:30")]
    expect(summary(page)).to_have_text("Tue 10:00–11:59")  # described by the server, live
    expect(page.get_by_label("Row 1 from")).to_have_value("10:00")
    expect(page.get_by_label("Row 1 until")).to_have_value("11:59")
    # The timeline follows the painted hours at once (previewed before the autosave lands, then
    # saved; whether the "Unsaved changes" badge is still up depends on timing, so the hours are
    # what is checked): every step waits for Tuesday 10:00.
    expect(page.locator("#timeline .timeline-basis")).to_contain_text(
        "Sending hours: Tue 10:00–11:59 (America/Los_Angeles)."
    )
    expect(page.locator("#timeline time").first).to_contain_text(re.compile(r"^Tue .*, 10:00 P"))

    page.get_by_role("button", name="Weekdays 9–5").click()
    expect(summary(page)).to_have_text("Mon–Fri 09:00–16:59")
    page.get_by_role("button", name="Friday").click()
    expect(cell(page, "Friday 09:00")).to_have_attribute("aria-selected", "false")
    expect(summary(page)).to_have_text("Mon–Thu 09:00–16:59")

    shown = save_and_reload(page, no_hours, "→ Mon–Thu 09:00–16:59")

    assert len(shown) == 4 * 16
    assert saved(no_hours) == MON_TO_THU_9_TO_5
    expect(summary(page)).to_have_text("Mon–Thu 09:00–16:59")
    # Saved as it went, like the Steps page, and one sitting is one revision: however many
    # autosaves the debounce made of the painting (one, or more on a slow machine), they are
    # grouped, and the revision says the last change and holds what the page shows.
    [revision] = Sequence.objects.get(pk=no_hours.pk).revisions.filter(number__gt=1)
    assert revision.summary.startswith("Schedule: ")
    assert revision.summary.endswith("→ Mon–Thu 09:00–16:59")
    assert revision.to_spec().schedule == Sequence.objects.get(pk=no_hours.pk).to_spec().schedule


def tab_to(page, target, *, back=False, limit=80):
    """Press Tab (or Shift+Tab) until `target` has the focus: keyboard only, no clicks."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"never reached {target} with Tab")


def test_the_same_with_the_keyboard_only(page, live_server, no_hours):
    open_schedule(page, live_server, no_hours)

    tab_to(page, cell(page, "Monday 09:00"))  # the grid's one tab stop
    for key in ["ArrowRight", "ArrowDown", "ArrowDown", "Space"]:
        page.keyboard.press(key)
    for _ in range(3):
        page.keyboard.press("Shift+ArrowDown")

    assert painted(page) == [f"Tuesday {t}" for t in ("10:00", "10:30", "11:00", "11:30")]
    expect(summary(page)).to_have_text("Tue 10:00–11:59")

    tab_to(page, page.get_by_role("button", name="Weekdays 9–5"), back=True)
    page.keyboard.press("Enter")
    expect(summary(page)).to_have_text("Mon–Fri 09:00–16:59")
    tab_to(page, page.get_by_role("button", name="Friday", exact=True))
    page.keyboard.press("Enter")
    expect(summary(page)).to_have_text("Mon–Thu 09:00–16:59")
    before = painted(page)
    autosaved(page, "Mon–Thu 09:00–16:59")
    page.reload()

    assert painted(page) == before
    assert saved(no_hours) == MON_TO_THU_9_TO_5


@pytest.fixture
def tokyo_page(browser):
    """A browser whose own timezone is Asia/Tokyo (the sequence is in America/Los_Angeles)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_exact_minutes_and_the_browser_timezone(tokyo_page, live_server, example_sequence):
    page = tokyo_page
    open_schedule(page, live_server, example_sequence)

    page.get_by_label("Row 1 from").fill("09:15")
    page.get_by_label("Row 1 from").blur()

    monday_nine = cell(page, "Monday 09:00")
    expect(monday_nine).to_have_attribute("aria-selected", "false")
    expect(monday_nine).to_have_attribute("aria-description", "Partly open: 09:15–09:29")
    expect(summary(page)).to_have_text("Mon 09:15–16:59; Tue–Fri 09:00–16:59")
    # Erasing Monday 12:00 by a click keeps the exact 09:15 start.
    cell(page, "Monday 12:00").click()
    expect(summary(page)).to_have_text("Mon 09:15–11:59 and 12:30–16:59; Tue–Fri 09:00–16:59")

    # The browser's zone: first among the suggestions, one click away, and the timeline's
    # second column.
    assert page.locator("#timezone-options option").first.get_attribute("value") == "Asia/Tokyo"
    expect(page.get_by_role("columnheader", name="For you, in Asia/Tokyo")).to_be_visible()
    page.get_by_role("button", name="Use my timezone: Asia/Tokyo (UTC+09:00)").click()
    expect(page.locator("#timezone-now")).to_contain_text("there (UTC+09:00).")
    save_and_reload(page, example_sequence, "Timezone: America/Los_Angeles → Asia/Tokyo")

    assert saved(example_sequence)[:2] == [(1, "09:15", "11:59"), (1, "12:30", "16:59")]
    assert Sequence.objects.get(pk=example_sequence.pk).timezone == "Asia/Tokyo"
    expect(cell(page, "Monday 09:00")).to_have_attribute(
        "aria-description", "Partly open: 09:15–09:29"
    )


# --- issue 11: what a new user hits in the first ten minutes ----------------------------------
def test_no_hours_block_submit_until_send_at_any_time_is_chosen(
    page, live_server, example_sequence, synced
):
    open_schedule(page, live_server, example_sequence)
    submit = page.get_by_role("button", name="Submit for review")
    expect(submit).to_be_enabled()

    page.get_by_role("button", name="Clear").click()
    autosaved(page, "Schedule: Mon–Fri 09:00–16:59 → No sending hours")

    # Saved as a draft, but it cannot go out: the page says why and Submit is off.
    expect(page.locator("#schedule-summary")).to_contain_text(
        "No sending hours: Close would never send these steps."
    )
    expect(submit).to_be_disabled()
    follow(page.get_by_role("link", name="Steps", exact=True))
    expect(page.get_by_role("heading", name="1 problem blocks publishing")).to_be_visible()

    follow(page.get_by_role("link", name="Schedule", exact=True))
    page.get_by_label("Send at any time").check()
    autosaved(page, "Schedule: No sending hours → Any time")
    expect(page.get_by_role("button", name="Submit for review")).to_be_enabled()


def test_a_preset_or_clear_replaces_an_invalid_exact_time_row(page, live_server, example_sequence):
    open_schedule(page, live_server, example_sequence)
    page.get_by_role("button", name="Add hours").click()
    page.get_by_label("Row 6 day").select_option("Saturday")
    page.get_by_label("Row 6 from").fill("12:00")
    page.get_by_label("Row 6 until").fill("10:00")
    expect(status(page)).to_contain_text(
        "Not saved: Sending hours on Saturday: the end must be after the start."
    )

    page.get_by_role("button", name="Every day 8–8").click()

    autosaved(page, "Schedule: Mon–Fri 09:00–16:59 → Mon–Sun 08:00–19:59")
    expect(page.get_by_label("Row 8 day")).to_have_count(0)
    expect(page.get_by_label("Row 7 until")).to_have_value("19:59")
    page.get_by_label("Row 1 until").fill("07:00")  # before its start: invalid again
    expect(status(page)).to_contain_text("Not saved:")

    page.get_by_role("button", name="Clear").click()

    autosaved(page, "→ No sending hours")
    expect(page.get_by_label("Row 1 day")).to_have_count(0)
    assert saved(example_sequence) == []


def test_exact_times_are_24_hour_whatever_the_locale(browser, live_server, example_sequence):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    open_schedule(page, live_server, example_sequence)

    until = page.get_by_label("Row 1 until")
    expect(until).to_have_value("16:59")
    assert until.evaluate("input => input.type") == "text"  # type=time shows 04:59 PM in en-US
    expect(until).to_have_attribute("placeholder", "HH:MM")
    context.close()


def test_a_stale_autosave_names_who_saved_first_and_offers_reload(
    page, live_server, example_sequence, other_user
):
    open_schedule(page, live_server, example_sequence)
    with example_sequence.editing(user=other_user, loaded_version=1, summary="Timezone: A → B"):
        pass

    cell(page, "Saturday 10:00").click()

    expect(status(page)).to_contain_text("Not saved: bob saved this sequence at")
    expect(status(page)).to_contain_text("Their last change: Timezone: A → B.")
    cell(page, "Sunday 10:00").click()  # still refused: nothing of bob's is overwritten
    assert saved(example_sequence) == [(day, "09:00", "16:59") for day in range(1, 6)]
    status(page).get_by_role("link", name="Reload").click()  # no leave-page prompt
    expect(status(page)).to_contain_text("Saved")
    expect(cell(page, "Saturday 10:00")).to_have_attribute("aria-selected", "false")


@pytest.fixture
def laptop_page(browser):
    """The window from the issue: 1366×900."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_painting_a_working_day_scrolls_at_the_window_edge(laptop_page, live_server, no_hours):
    page = laptop_page
    open_schedule(page, live_server, no_hours)
    start = cell(page, "Monday 09:00")
    start.scroll_into_view_if_needed()
    box = start.bounding_box()

    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    # Held at the bottom edge of the window, the page scrolls and the stroke keeps painting.
    page.mouse.move(box["x"] + box["width"] / 2, 898, steps=5)
    expect(cell(page, "Monday 21:00")).to_have_attribute("aria-selected", "true")
    page.mouse.up()

    assert painted(page)[0] == "Monday 09:00"
    autosaved(page, "→ Mon 09:00–")


def test_nothing_covers_the_grid(laptop_page, live_server, example_sequence):
    page = laptop_page
    open_schedule(page, live_server, example_sequence)

    for name in ("Friday 16:30", "Sunday 23:30"):
        # Each cell at the bottom edge of the window, where a sticky bar would sit.
        covered_by = cell(page, name).evaluate(
            """td => {
                td.scrollIntoView({block: "end"});
                const r = td.getBoundingClientRect();
                const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                return top === td ? "" : top.outerHTML.slice(0, 80);
            }"""
        )
        assert covered_by == "", f"{name} is covered by {covered_by}"


def test_a_timezone_typed_as_people_say_it_is_saved_as_its_iana_name(
    page, live_server, example_sequence
):
    open_schedule(page, live_server, example_sequence)
    timezone = page.get_by_role("combobox", name="Timezone", exact=True)

    timezone.fill("Europe/Pari")
    timezone.press("Tab")
    expect(status(page)).to_contain_text(
        'Not saved: "Europe/Pari" is not a time zone name. Did you mean "Europe/Paris"?'
    )

    timezone.fill("eastern")
    expect(page.locator("#timezone-now")).to_contain_text("eastern is America/New_York. Now")
    timezone.press("Enter")

    autosaved(page, "Timezone: America/Los_Angeles → America/New_York")
    expect(timezone).to_have_value("America/New_York")
    assert Sequence.objects.get(pk=example_sequence.pk).timezone == "America/New_York"


def test_once_saved_leaving_the_page_asks_nothing(page, live_server, example_sequence):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    open_schedule(page, live_server, example_sequence)

    cell(page, "Saturday 10:00").click()
    autosaved(page, "→ Mon–Fri 09:00–16:59; Sat 10:00–10:29")
    page.get_by_role("link", name="Steps", exact=True).click()

    page.wait_for_url(f"{live_server.url}/sequences/{example_sequence.pk}/")
    assert dialogs == []


def test_without_javascript_the_form_still_saves(browser, live_server, example_sequence):
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    open_schedule(page, live_server, example_sequence)

    page.get_by_label("Row 1 until").fill("15:59")
    page.get_by_role("button", name="Save schedule").click()

    expect(
        page.get_by_text("Saved. Schedule: Mon–Fri 09:00–16:59 → Mon 09:00–15:59")
    ).to_be_visible()
    assert saved(example_sequence)[0] == (1, "09:00", "15:59")
    page.get_by_label("Row 1 until").fill("08:00")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    assert saved(example_sequence)[0] == (1, "09:00", "15:59")
    context.close()
