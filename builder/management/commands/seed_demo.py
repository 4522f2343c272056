"""First-run data for `make run`: demo logins, the template cache, two example drafts (one
using the team's shared Close templates, one whose copy is written in the app)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from builder import close, permissions, template_sync
from builder import steps as step_kinds
from builder.models import CloseTemplate, Sequence, Step

DEMO_USERNAME = "demo"
# A second person, so the demo can show review: nobody may approve their own changes.
REVIEWER_USERNAME = "reviewer"
# A fixed, printed password: `make run` serves on 127.0.0.1 only, for trying the app out.
DEMO_PASSWORD = "demo-sequences"  # noqa: S105
EXAMPLE_NAME = "Example: call, then two emails"
WRITTEN_EXAMPLE_NAME = "Example: copy written here"
# The written example's copy: merge fields with fallbacks, a bulleted list and a link (what the
# body editor offers), in copytext's HTML subset; then a reply in the thread and an SMS.
WRITTEN_EXAMPLE_STEPS = (
    {
        "step_type": "email",
        "delay": 0,
        "threading": "new_thread",
        "subject": "A faster follow-up for {{ lead.display_name }}",
        "body": (
            '<div>Hi {{ contact.first_name | default:"there" }},</div>'
            "<div><br></div>"
            "<div>Teams like {{ lead.display_name }} usually lose hours every week to manual "
            "follow-ups. Three things change with sequences:</div>"
            "<ul><li><strong>Every lead</strong> gets the next step on time</li>"
            "<li>Replies stop the sequence for that contact</li>"
            "<li>Calls and texts sit in the same cadence as emails</li></ul>"
            '<div><a href="https://example.com/case-studies/northwind" rel="noopener noreferrer">'
            "Read how Northwind cut follow-up time by 40%</a></div>"
            "<div><br></div>"
            "<div>Best,<br>{{ user.first_name }}</div>"
        ),
    },
    {
        "step_type": "email",
        "delay": 2 * 86400,
        "threading": "old_thread",
        "subject": "",
        "body": (
            '<div>Hi {{ contact.first_name | default:"there" }}, just bumping this up. Would '
            "<em>15 minutes</em> next week be worth it?</div>"
            "<div><br></div>"
            "<div>{{ user.first_name }}</div>"
        ),
    },
    {
        "step_type": "sms",
        "delay": 86400,
        "text": (
            'Hi {{ contact.first_name | default:"there" }}, it\'s {{ user.first_name }} from '
            "{{ organization.name }}. Did my email about follow-ups land? Happy to share "
            "details here."
        ),
    },
)


class Command(BaseCommand):
    help = "Create the demo users, sync templates and add example drafts (only what is missing)."

    def handle(self, *args, **options):
        user = self._demo_user(DEMO_USERNAME, superuser=True)
        self._demo_user(REVIEWER_USERNAME, roles=[permissions.REVIEWER, permissions.PUBLISHER])
        try:
            self.stdout.write(template_sync.sync_templates().message)
        except close.CloseError as error:
            self.stderr.write(f"Templates were not synced: {error.message}")
        if not Sequence.objects.filter(name=EXAMPLE_NAME).exists():
            self._example_draft(user)
        if not Sequence.objects.filter(name=WRITTEN_EXAMPLE_NAME).exists():
            self._written_example_draft(user)
        self.stdout.write(
            self.style.SUCCESS(
                f"Log in as “{DEMO_USERNAME}” (all roles) or “{REVIEWER_USERNAME}” "
                f"(Reviewer, Publisher), password “{DEMO_PASSWORD}”."
            )
        )

    def _demo_user(self, username, *, superuser=False, roles=()):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "is_staff": superuser,
                "is_superuser": superuser,
                "email": f"{username}@example.com",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.set(Group.objects.filter(name__in=roles))
        return user

    def _example_draft(self, user):
        """Close's documented example: a call, an email a day later, a reply three days after."""
        usable = CloseTemplate.objects.filter(
            kind="email", is_shared=True, is_archived=False, present_in_close=True
        )
        # An intro first and a follow-up second reads like a real cadence.
        first = _first_id(usable.filter(name__istartswith="intro")) or _first_id(usable)
        second = _first_id(usable.filter(name__istartswith="follow").exclude(close_id=first))
        second = second or _first_id(usable.exclude(close_id=first)) or first
        sequence = Sequence.create_draft(
            name=EXAMPLE_NAME, timezone_name="America/Los_Angeles", user=user
        )
        with sequence.editing(user=user, loaded_version=sequence.version, summary="Added 3 steps"):
            Step.objects.bulk_create(
                Step.close_example(sequence, first_email=first, second_email=second)
            )
        self.stdout.write(f"Added the example draft “{EXAMPLE_NAME}”.")

    def _written_example_draft(self, user):
        """Two emails and an SMS whose copy is written in the app (no Close template needed:
        publishing creates the templates that carry it)."""
        sequence = Sequence.create_draft(
            name=WRITTEN_EXAMPLE_NAME, timezone_name="America/New_York", user=user
        )
        summary = f"Added {len(WRITTEN_EXAMPLE_STEPS)} steps"
        with sequence.editing(user=user, loaded_version=sequence.version, summary=summary):
            Step.objects.bulk_create(
                Step(
                    sequence=sequence,
                    position=position,
                    content_source=step_kinds.WRITTEN,
                    **values,
                )
                for position, values in enumerate(WRITTEN_EXAMPLE_STEPS)
            )
        self.stdout.write(f"Added the example draft “{WRITTEN_EXAMPLE_NAME}”.")


def _first_id(templates):
    return templates.order_by("name").values_list("close_id", flat=True).first() or ""
