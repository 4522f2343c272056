"""A person paints sending hours on the Schedule page with a mouse, then with the keyboard only."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from builder import permissions
from builder.models import ScheduleRange, Sequence

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
    # The timeline previews the unsaved hours: every step waits for Tuesday 10:00.
    expect(page.locator("#timeline").get_by_text("Unsaved changes")).to_be_visible()

    page.get_by_role("button", name="Weekdays 9–5").click()
    expect(summary(page)).to_have_text("Mon–Fri 09:00–16:59")
    page.get_by_role("button", name="Friday").click()
    expect(cell(page, "Friday 09:00")).to_have_attribute("aria-selected", "false")
    expect(summary(page)).to_have_text("Mon–Thu 09:00–16:59")

    shown = save_and_reload(page, no_hours, "→ Mon–Thu 09:00–16:59")

    assert len(shown) == 4 * 16
    assert saved(no_hours) == MON_TO_THU_9_TO_5
    expect(summary(page)).to_have_text("Mon–Thu 09:00–16:59")
    # Saved as it went, like the Steps page: one revision per pause, the first from no hours,
    # the last to what the page shows.
    summaries = list(
        Sequence.objects.get(pk=no_hours.pk)
        .revisions.filter(number__gt=1)
        .order_by("number")
        .values_list("summary", flat=True)
    )
    assert summaries[0].startswith("Schedule: No sending hours → ")
    assert summaries[-1].endswith("→ Mon–Thu 09:00–16:59")


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
