"""First-run data for `make run`: demo logins, the template cache, one example draft."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from builder import close, permissions, template_sync
from builder.models import CloseTemplate, Sequence, Step

DEMO_USERNAME = "demo"
# A second person, so the demo can show review: nobody may approve their own changes.
REVIEWER_USERNAME = "reviewer"
# A fixed, printed password: `make run` serves on 127.0.0.1 only, for trying the app out.
DEMO_PASSWORD = "demo-sequences"  # noqa: S105
EXAMPLE_NAME = "Example: call, then two emails"


class Command(BaseCommand):
    help = "Create the demo user, sync templates and add an example draft (only what is missing)."

    def handle(self, *args, **options):
        user = self._demo_user(DEMO_USERNAME, superuser=True)
        self._demo_user(REVIEWER_USERNAME, roles=[permissions.REVIEWER, permissions.PUBLISHER])
        try:
            self.stdout.write(template_sync.sync_templates().message)
        except close.CloseError as error:
            self.stderr.write(f"Templates were not synced: {error.message}")
        if not Sequence.objects.filter(name=EXAMPLE_NAME).exists():
            self._example_draft(user)
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


def _first_id(templates):
    return templates.order_by("name").values_list("close_id", flat=True).first() or ""
