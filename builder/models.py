"""Drafts of Close sequences, the local cache of Close templates, and the publish log.

State changes live here as model methods; the rules of what a valid sequence is live in spec.py,
and everything that talks to Close lives in close.py / publishing.py.
"""

import dataclasses
import functools
from contextlib import contextmanager
from datetime import time, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from builder import snapshots, spec
from builder import steps as step_kinds

DEFAULT_TIMEZONE = "America/New_York"
# A person's saves less than this apart are one revision (Sequence.record_revision): typing
# autosaves every few seconds, and 23 revisions for three steps hide what changed.
REVISION_PAUSE = timedelta(minutes=5)
WEEKDAYS_9_TO_5 = [(weekday, time(9, 0), time(16, 59)) for weekday in range(1, 6)]


class EditConflict(Exception):
    """Someone saved the sequence after this editor loaded it; their change must not be lost."""

    def __init__(self, sequence):
        self.sequence = sequence
        who = sequence.updated_by.get_username() if sequence.updated_by else "someone"
        # In the viewer's timezone (builder/middleware.py), named: "10:02:03 JST".
        when = timezone.localtime(sequence.updated_at).strftime("%H:%M:%S %Z")
        super().__init__(
            f"{who} saved this sequence at {when}, after you opened it. "
            "Reload to see their changes, then make yours again."
        )


class Sequence(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        APPROVED = "approved", "Approved"
        PUBLISHED = "published", "Published"

    # An edit in these states invalidates the review or the published copy: back to Draft.
    EDIT_RESETS_TO_DRAFT = {Status.IN_REVIEW, Status.APPROVED, Status.PUBLISHED}

    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default=DEFAULT_TIMEZONE)
    # False means "no schedule": Close may send at any time (schedule null in the payload).
    has_schedule = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.DRAFT)
    close_id = models.CharField("Close id", max_length=64, blank=True, db_index=True)
    # What Close said the sequence's status is ("active", "paused") at the last publish or
    # import: the list shows it after a local edit has put the draft back to Draft, since the
    # copy in Close keeps running. "" = not in Close, or not known.
    close_status = models.CharField("status in Close", max_length=20, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set while one request is talking to Close about this sequence: the database-level guard
    # that makes a double click or two publishers create one sequence, not two.
    publishing_since = models.DateTimeField(null=True, blank=True)
    # The revision a reviewer approved / the revision last sent to Close. An approval belongs to
    # exactly one revision: any later edit clears the approval.
    approved_revision = models.ForeignKey(
        "Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_revision = models.ForeignKey(
        "Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Bumped on every save; an editor that loaded an older version is refused (no lost updates).
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            # One draft per Close sequence: two imports (or a publish and an import) racing for
            # the same Close id must not both win.
            models.UniqueConstraint(
                fields=["close_id"],
                condition=~models.Q(close_id=""),
                name="unique_close_id_when_linked",
            )
        ]

    def __str__(self):
        return self.name

    @classmethod
    def create_draft(cls, *, name, timezone_name, user):
        """A new draft, scheduled Mon–Fri 09:00–16:59 like Close's own example."""
        sequence = cls.objects.create(
            name=name, timezone=timezone_name, created_by=user, updated_by=user
        )
        ScheduleRange.objects.bulk_create(
            ScheduleRange(sequence=sequence, weekday=day, start=start, end=end)
            for day, start, end in WEEKDAYS_9_TO_5
        )
        sequence.record_revision(user=user, summary="Created")
        return sequence

    @staticmethod
    def close_status_in(close_sequence):
        """Close's status in its sequence object ("active", "paused"); "" when it gives none
        we can store."""
        status = close_sequence.get("status") if isinstance(close_sequence, dict) else None
        return status if isinstance(status, str) and len(status) <= 20 else ""

    @property
    def is_in_close(self):
        """Linked to a sequence in Close (published or imported), whatever the draft's state."""
        return bool(self.close_id)

    @property
    def close_url(self):
        if not self.close_id:
            return ""
        return f"{settings.CLOSE_APP_URL}sequence/{self.close_id}/"

    def claim_version(self, *, loaded_version, user):
        """Take the next version number if nobody saved since `loaded_version`, else raise."""
        updated = Sequence.objects.filter(pk=self.pk, version=loaded_version).update(
            version=F("version") + 1, updated_by=user, updated_at=timezone.now()
        )
        if not updated:
            self.refresh_from_db()
            raise EditConflict(self)
        # Our UPDATE holds the row's write lock until commit, so the review state read now is the
        # one our edit lands on (an approval racing this edit either precedes it or sees the new
        # version and is refused as stale).
        self.refresh_from_db(
            fields=["version", "updated_by", "updated_at", "status", "approved_revision"]
        )

    @contextmanager
    def editing(self, *, user, loaded_version, summary="", group=True, steps=None):
        """Every change to a draft goes through here, in one transaction:

        refuse a stale editor (EditConflict), let the caller change rows, then record the new
        revision and clear an approval or review the change invalidates.

        The version goes up on every save (that is what refuses a stale editor); the revision
        rows group one person's saves in a row (`group`, see record_revision). A restore passes
        group=False: it is a revision of its own.

        `steps`: the step rows as the edit leaves them, in their order — the rows this request
        loaded, with the caller's changes made and saved inside the block. The revision is then
        recorded from them instead of reading every row again (see saved_steps), and they become
        this object's steps, so the answer shows them without a third read.
        """
        with transaction.atomic():
            self.claim_version(loaded_version=loaded_version, user=user)
            yield self
            if steps is not None:
                steps = self.saved_steps(steps)
            self.record_revision(user=user, summary=summary, group=group, steps=steps)
            if self.status in self.EDIT_RESETS_TO_DRAFT:
                # This move is the edit's own consequence: the revision just saved stays open
                # for the person's next autosave.
                self.change_status(
                    self.Status.DRAFT,
                    user=user,
                    note=f"Edited while {self.get_status_display().lower()}: back to draft.",
                    close_revisions=False,
                )

    def saved_steps(self, rows):
        """`rows` (this request's step rows, changed and saved by the edit) checked against the
        table, inside the edit's transaction: exactly what is stored, or read again.

        Only publishing writes step rows without a new version, and only its bookkeeping (Close's
        step ids, the template carrying a written step's copy): those columns are read again
        (one small query, no copy) and put into the rows. Any other difference in the set of
        rows (a change made outside Sequence.editing(), in the admin or a script) reads the rows
        again, as they are stored. Returns the rows in order and makes them this object's steps.
        """
        stored = {
            pk: values
            for pk, *values in Step.objects.filter(sequence=self).values_list(
                "pk", *BOOKKEEPING_COLUMNS
            )
        }
        if sorted(stored) != sorted(row.pk for row in rows):
            fresh = Sequence.objects.prefetch_related("steps").get(pk=self.pk)
            rows = fresh.ordered_steps()
        for row in rows:
            for name, value in zip(BOOKKEEPING_COLUMNS, stored.get(row.pk, ()), strict=False):
                setattr(row, name, value)
        rows = sorted(rows, key=lambda step: (step.position, step.pk))
        self.use_steps(rows)
        return rows

    def use_steps(self, rows):
        """Make `rows` this object's loaded steps (what steps.all() and ordered_steps() give)."""
        cached = self.steps.model.objects.none()  # a QuerySet holding exactly these rows
        cached._result_cache = list(rows)
        cached._prefetch_done = True
        self._prefetched_objects_cache = {
            **getattr(self, "_prefetched_objects_cache", {}),
            "steps": cached,
        }

    def record_revision(self, *, user, summary="", group=False, steps=None):
        """Snapshot the saved state as revision number == version.

        With `group`, a save by the person whose open revision is the previous version, within
        REVISION_PAUSE of its last save, extends that revision instead of adding one: the row
        takes the new number, snapshot, summary (the latest save's: "their last change") and
        time, so number == version still holds for the current revision. Anything else closes
        every open revision first: someone else's save, a pause, a restore (group=False); and
        change_status() closes them on every review step and publish, so an approved or
        published revision's snapshot never changes afterwards.
        """
        if steps is None:
            # The rows just written, read again: not the steps this object may have prefetched.
            saved = Sequence.objects.prefetch_related("steps", "schedule_ranges").get(pk=self.pk)
            sequence_spec = saved.to_spec()
            self.saved_spec = None  # this object's own rows may be older than these
        else:
            # The rows as saved (editing() checked them against the table): built once, and kept
            # for the answer's validation (problems()).
            sequence_spec = spec.SequenceSpec(
                name=self.name,
                timezone=self.timezone,
                steps=[step.to_spec() for step in steps],
                schedule=self.schedule_spec(),
            )
            self.saved_spec = sequence_spec
        snapshot = Revision.snapshot_columns(sequence_spec, sequence=self)
        now = timezone.now()
        if group:
            extended = Revision.objects.filter(
                sequence=self,
                is_open=True,
                number=self.version - 1,
                created_by=user,
                created_at__gt=now - REVISION_PAUSE,
            ).update(
                number=self.version,
                **snapshot,
                summary=summary[:300],
                created_at=now,
                saves=F("saves") + 1,
            )
            if extended:
                return Revision.objects.get(sequence=self, number=self.version)
        self.close_revisions()
        return Revision.objects.create(
            sequence=self,
            number=self.version,
            created_by=user,
            created_at=now,
            summary=summary[:300],
            **snapshot,
            is_open=group,
        )

    def close_revisions(self):
        """No later save extends the revisions recorded so far."""
        Revision.objects.filter(sequence=self, is_open=True).update(is_open=False)

    def change_status(self, new_status, *, user, note="", close_revisions=True):
        """Move to `new_status` and log who did it, when, and from which state.

        Closes the open revision (unless the move is an edit's own return to Draft): a review
        step or a publish refers to an exact revision, which must not change afterwards."""
        if close_revisions:
            self.close_revisions()
        old_status = self.status
        self.status = new_status
        if new_status != self.Status.APPROVED:
            self.approved_revision = None
        Sequence.objects.filter(pk=self.pk).update(
            status=new_status, approved_revision=self.approved_revision
        )
        return StateChange.objects.create(
            sequence=self, user=user, from_status=old_status, to_status=new_status, note=note
        )

    # --- spec ------------------------------------------------------------------------------
    def ordered_steps(self):
        return sorted(self.steps.all(), key=lambda step: (step.position, step.pk))

    def to_spec(self):
        return spec.SequenceSpec(
            name=self.name,
            timezone=self.timezone,
            steps=[step.to_spec() for step in self.ordered_steps()],
            schedule=self.schedule_spec(),
        )

    def schedule_spec(self):
        """The spec's `schedule` alone (None: no sending window), without building every step."""
        return [r.to_spec() for r in self.schedule_ranges.all()] if self.has_schedule else None

    def problems(self):
        # The spec an edit just recorded from these very rows, or built now.
        sequence_spec = getattr(self, "saved_spec", None) or self.to_spec()
        return spec.validate(sequence_spec, CloseTemplate.lookup_for(sequence_spec))


# The spec.Step fields a step row stores, in one place: every path that turns spec values into
# rows (review restore, imports, the editor's undo and duplicate) copies exactly these, so a new
# spec field is stored everywhere or nowhere. `key` is not a column: it is the row's own pk.
STEP_COLUMNS = tuple(f.name for f in dataclasses.fields(spec.Step) if f.name != "key")
# Close's id for the step is written only where Close gave it (import from Close, publishing)
# or where the very same step comes back (Undo of a removal); an edit never copies it.
EDITED_STEP_COLUMNS = tuple(name for name in STEP_COLUMNS if name != "close_id")
# What publishing writes to step rows without a new version (Sequence.saved_steps).
BOOKKEEPING_COLUMNS = ("close_id", "email_template_id", "sms_template_id")


class Step(models.Model):
    class Threading(models.TextChoices):
        NEW_THREAD = "new_thread", "Start a new thread"
        OLD_THREAD = "old_thread", "Reply in previous thread"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(default=0)
    # The registry's kinds (the same list as the migration's, so no migration follows from it).
    step_type = models.CharField(
        max_length=20, choices=[(kind.key, kind.label) for kind in step_kinds.KINDS]
    )
    delay = models.PositiveIntegerField(default=0, help_text="Seconds after the previous step.")
    email_template_id = models.CharField(max_length=80, blank=True)
    sms_template_id = models.CharField(max_length=80, blank=True)
    threading = models.CharField(max_length=20, choices=Threading, blank=True)
    required = models.BooleanField(default=True)
    content_source = models.CharField(
        max_length=20,
        choices=[("template", "Use a shared template"), ("written", "Write it here")],
        default="template",
    )
    subject = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True, help_text="HTML, cleaned to copytext.BODY_TAGS.")
    text = models.TextField(blank=True, help_text="An SMS's message.")
    close_id = models.CharField("Close step id", max_length=64, blank=True)
    # Fields of a step Close returned that we do not model, kept so an update sends them back.
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self):
        return f"Step {self.position + 1} ({self.step_type})"

    @classmethod
    def close_example(cls, sequence, *, first_email, second_email):
        """The steps of Close's documented create example (unsaved): a call, an email a day
        later starting the thread, a reply three days after that."""
        return [
            cls(sequence=sequence, position=0, step_type="call", delay=0),
            cls(
                sequence=sequence,
                position=1,
                step_type="email",
                delay=86400,
                email_template_id=first_email,
                threading="new_thread",
            ),
            cls(
                sequence=sequence,
                position=2,
                step_type="email",
                delay=259200,
                email_template_id=second_email,
                threading="old_thread",
            ),
        ]

    def to_spec(self):
        values = {name: getattr(self, name) for name in STEP_COLUMNS}
        for name in self._text_columns():
            values[name] = values[name] or None  # the spec says None where a column holds ""
        values["extra"] = values["extra"] or {}
        return spec.Step(**values, key=str(self.pk) if self.pk else None)

    @classmethod
    def columns_from_spec(cls, spec_step, *, keep_close_id=False):
        """The column values for `spec_step`: the one mapping from spec values to a row."""
        names = STEP_COLUMNS if keep_close_id else EDITED_STEP_COLUMNS
        values = {name: getattr(spec_step, name) for name in names}
        for name in cls._text_columns() & set(names):
            values[name] = values[name] or ""  # text columns are not nullable
        values["extra"] = values["extra"] or {}
        return values

    @classmethod
    def from_spec(cls, spec_step, *, sequence, position, keep_close_id=False):
        """A new (unsaved) row holding `spec_step` at `position`."""
        return cls(
            sequence=sequence,
            position=position,
            **cls.columns_from_spec(spec_step, keep_close_id=keep_close_id),
        )

    def apply_spec(self, spec_step, *, keep_close_id=False):
        """Make this row hold `spec_step`'s values (not saved; its position is the caller's)."""
        for name, value in self.columns_from_spec(spec_step, keep_close_id=keep_close_id).items():
            setattr(self, name, value)
        return self

    def spec_columns(self, *, keep_close_id=False):
        """This row's values as the mapping copies them (what Undo and Duplicate carry)."""
        return self.columns_from_spec(self.to_spec(), keep_close_id=keep_close_id)

    @classmethod
    def _text_columns(cls):
        return _step_text_columns()


@functools.cache
def _step_text_columns() -> frozenset[str]:
    """The step columns that hold "" where the spec says None (read on every row's to_spec)."""
    return frozenset(
        name
        for name in STEP_COLUMNS
        if isinstance(Step._meta.get_field(name), models.CharField | models.TextField)
    )


class ScheduleRange(models.Model):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="schedule_ranges")
    weekday = models.PositiveSmallIntegerField(
        choices=[(number, spec.weekday_name(number)) for number in range(1, 8)]
    )
    start = models.TimeField()
    end = models.TimeField(help_text="Inclusive last minute: a 9-to-5 day ends at 16:59.")

    class Meta:
        ordering = ["weekday", "start"]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"

    def to_spec(self):
        return spec.ScheduleRange(
            weekday=self.weekday, start=f"{self.start:%H:%M}", end=f"{self.end:%H:%M}"
        )

    @classmethod
    def from_spec(cls, time_range, *, sequence):
        """A new (unsaved) row for a valid spec.ScheduleRange."""
        return cls(
            sequence=sequence,
            weekday=time_range.weekday,
            start=time.fromisoformat(time_range.start),
            end=time.fromisoformat(time_range.end),
        )


class CloseTemplate(models.Model):
    """Local cache of Close's email and SMS templates, refreshed by `sync_templates`."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    close_id = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=10, choices=Kind)
    name = models.CharField(max_length=300)
    subject = models.CharField(max_length=1000, blank=True)
    body = models.TextField(blank=True, help_text="HTML for email, plain text for SMS.")
    is_shared = models.BooleanField(default=False)
    is_archived = models.BooleanField(default=False)
    # False once a sync no longer finds the template in Close (deleted there).
    present_in_close = models.BooleanField(default=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "name"]
        indexes = [models.Index(fields=["kind", "is_shared", "is_archived", "name"])]

    def __str__(self):
        return f"{self.name} ({self.close_id})"

    @property
    def usable(self):
        return self.is_shared and not self.is_archived and self.present_in_close

    def to_info(self):
        return spec.TemplateInfo(
            id=self.close_id,
            kind=self.kind,
            name=self.name,
            is_shared=self.is_shared,
            is_archived=self.is_archived,
        )

    @classmethod
    def lookup_for(cls, sequence_spec):
        """id -> TemplateInfo for the templates a spec references (one query).

        Templates deleted in Close are left out, so validation reports them as missing.
        """
        ids = {
            template_id
            for step in sequence_spec.steps
            for template_id in (
                getattr(step, k.template_field) for k in step_kinds.template_kinds()
            )
            if template_id
        }
        if not ids:
            return {}
        templates = cls.objects.filter(close_id__in=ids, present_in_close=True)
        return {template.close_id: template.to_info() for template in templates}

    @classmethod
    def usable_choices(cls, kind):
        return cls.objects.filter(
            kind=kind, is_shared=True, is_archived=False, present_in_close=True
        ).only("close_id", "name", "subject")


class PublishAttempt(models.Model):
    """Every time we asked Close to create or update a sequence: who, what, and what Close said."""

    class Outcome(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        PUBLISHED = "published", "Published"
        FOUND_EXISTING = "found_existing", "Found in Close after an unclear answer"
        REFUSED = "refused", "Refused by Close"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Unknown: Close may have created it"

    class Action(models.TextChoices):
        CREATE = "create", "Create in Close"
        UPDATE = "update", "Update in Close"

    sequence = models.ForeignKey(
        Sequence, on_delete=models.CASCADE, related_name="publish_attempts"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=10, choices=Action, default=Action.CREATE)
    revision = models.ForeignKey(
        "Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "active" or "paused" as chosen on the confirmation; "" = Close's default.
    requested_status = models.CharField(max_length=10, blank=True)
    # What the background job is doing now, shown while the page polls ("Close asked us to
    # wait 12 s").
    progress = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome, default=Outcome.IN_PROGRESS)
    request_payload = models.JSONField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.sequence} at {self.started_at:%Y-%m-%d %H:%M} — {self.get_outcome_display()}"


class StepSnapshot(models.Model):
    """One step's values as revisions recorded them (spec.Step as JSON, builder/snapshots.py),
    stored once under the digest of that JSON however many revisions hold it.

    Never changed or deleted: a revision refers to its steps by digest. (A deleted sequence's
    step versions stay; they are small, and another sequence never shares one, as a step's
    values include its own row id.)"""

    digest = models.CharField(max_length=64, unique=True)
    data = models.JSONField()

    def __str__(self):
        return f"step version {self.digest[:12]}"

    @classmethod
    def store(cls, digested, *, stored=()):
        """Make sure every (digest, data) of `digested` is stored. `stored`: digests known to be
        (the sequence's previous revision's: step versions are never deleted), so a save
        inserts only the steps it changed; the others are looked up first."""
        wanted = {d: data for d, data in digested if d not in stored}
        if not wanted:
            return
        present = set(cls.objects.filter(digest__in=wanted).values_list("digest", flat=True))
        missing = [cls(digest=d, data=data) for d, data in wanted.items() if d not in present]
        if missing:
            # Another save may store the same step version at the same moment: one row wins.
            cls.objects.bulk_create(missing, ignore_conflicts=True)

    @classmethod
    def data_by_digest(cls, digests):
        return dict(cls.objects.filter(digest__in=set(digests)).values_list("digest", "data"))


class Revision(models.Model):
    """A saved state of a sequence: who saved it, when, and the whole spec as it was.

    The spec is stored in two parts: `snapshot` holds the sequence's own values (name, timezone,
    schedule, status) and `step_digests` its steps, in order, as StepSnapshot digests. Read it
    through snapshot_data() / to_spec() (load_steps() for many revisions at once), never the
    columns themselves.
    """

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=300, blank=True)
    snapshot = models.JSONField(
        help_text="spec.to_snapshot() of the sequence at this revision, without its steps."
    )
    step_digests = models.JSONField(
        default=list, blank=True, help_text="The steps in order: StepSnapshot digests."
    )
    # Open: the person's next save (soon enough) extends it; see Sequence.record_revision.
    # created_at is then the time of its latest save, and `saves` how many it groups.
    is_open = models.BooleanField(default=False)
    saves = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "number"], name="unique_revision_number")
        ]

    def __str__(self):
        return f"{self.sequence} revision {self.number}"

    def to_spec(self):
        return spec.from_snapshot(self.snapshot_data())

    def snapshot_data(self):
        """spec.to_snapshot() of the sequence at this revision (a new dict each call)."""
        data = dict(self.snapshot)
        if "steps" in data:  # recorded whole (before migration 0012, or by hand)
            data["steps"] = [dict(step) for step in data["steps"]]
            return data
        by_digest = getattr(self, "_step_data", None)
        if by_digest is None:
            by_digest = StepSnapshot.data_by_digest(self.step_digests)
        missing = [digest for digest in self.step_digests if digest not in by_digest]
        if missing:
            raise LookupError(f"{self}: step versions {missing[:3]} are not stored.")
        data["steps"] = [dict(by_digest[digest]) for digest in self.step_digests]
        return data

    @classmethod
    def load_steps(cls, revisions):
        """Read the steps of many revisions in one query (the history page's diffs)."""
        revisions = [revision for revision in revisions if revision is not None]
        by_digest = StepSnapshot.data_by_digest(
            digest for revision in revisions for digest in revision.step_digests
        )
        for revision in revisions:
            revision._step_data = by_digest
        return revisions

    @staticmethod
    def snapshot_columns(sequence_spec, *, sequence=None):
        """The column values recording `sequence_spec` (storing the step versions not stored
        yet): `Revision(**columns)` or `.update(**columns)`. With `sequence`, the step versions
        of its latest revision are known to be stored (one small read instead of a lookup of
        every step)."""
        digested = [snapshots.digested(step) for step in sequence_spec.steps]
        stored = ()
        if sequence is not None:
            latest = (
                Revision.objects.filter(sequence=sequence)
                .order_by("-number")
                .values_list("step_digests", flat=True)
                .first()
            )
            stored = frozenset(latest or ())
        StepSnapshot.store(digested, stored=stored)
        return {
            "snapshot": snapshots.head_of(sequence_spec),
            "step_digests": [digest for digest, _ in digested],
        }


class StateChange(models.Model):
    """The review log: who moved the sequence from which state to which, and when."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="state_changes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    from_status = models.CharField(max_length=20, choices=Sequence.Status)
    to_status = models.CharField(max_length=20, choices=Sequence.Status)
    # The revision the move was about (submitted, approved, changes requested on), so the review
    # page can diff against "the last approved revision" after the approval itself was cleared.
    revision = models.ForeignKey(
        "Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.sequence}: {self.from_status} → {self.to_status}"


class Comment(models.Model):
    """A review comment on the sequence or on one step; replies hang off a parent comment."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="comments")
    revision = models.ForeignKey(
        Revision, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    # The step it is about (null = the whole sequence); the label keeps "Step 2 · Email" readable
    # after the step moves or is removed.
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    step_label = models.CharField(max_length=100, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    body = models.TextField()
    # A passage of the step's copy the comment is about, as the reviewer selected it, and the
    # field it came from ("subject", "body", "text"): kept as text, so it still reads after
    # the copy changes.
    quote = models.TextField(blank=True)
    quote_field = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"Comment by {self.author} on {self.sequence}"


class OwnedTemplate(models.Model):
    """A Close template that carries one step's written copy: created by our publish, or the
    template a Close import read the copy from (then possibly shared with other sequences).

    It records what we last wrote to (or read from) Close, so a republish sends nothing for
    unchanged copy, and so copy changed in Close since then ("drift") can be told apart from
    our own edits.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="owned_templates")
    # The step row it belongs to (spec.Step.key); kept as text so a removed and restored step
    # (same key) finds its template again.
    step_key = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind)
    close_id = models.CharField("Close template id", max_length=80, blank=True, db_index=True)
    # Unique per draft step ("<sequence> · step 2 · <short id>"): after an unclear create we
    # look the template up by this name before creating again.
    name = models.CharField(max_length=300)
    created_by_us = models.BooleanField(default=True)  # False: adopted from a Close import
    # What we last wrote to Close (or read, on import): subject/body for email, text for SMS.
    sent_subject = models.CharField(max_length=1000, blank=True)
    sent_body = models.TextField(blank=True)
    sent_text = models.TextField(blank=True)
    close_date_updated = models.CharField(max_length=40, blank=True)
    # Drift: Close's copy when it was last seen to differ from what we sent ("" = no drift).
    drift_seen_at = models.DateTimeField(null=True, blank=True)
    drift_subject = models.CharField(max_length=1000, blank=True)
    drift_body = models.TextField(blank=True)
    drift_text = models.TextField(blank=True)
    # A person chose "Overwrite on publish" for the drift above.
    overwrite_drift = models.BooleanField(default=False)
    # A person chose to update a template other sequences use (after seeing which, and how
    # many contacts are active in them); without it, changed copy gets a template of its own.
    update_shared = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "step_key", "kind"], name="one_owned_template_per_step"
            )
        ]

    def __str__(self):
        return self.name

    @property
    def has_drift(self) -> bool:
        return self.drift_seen_at is not None


class AudienceCheck(models.Model):
    """One check of a sequence's copy against the contacts of a Close Smart View.

    Only the summary is stored (counts per merge field and step, and the names/ids of the
    contacts each problem lists), never the contacts' data beyond that.
    """

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="audience_checks")
    revision_number = models.PositiveIntegerField()
    smart_view_id = models.CharField(max_length=80)
    smart_view_name = models.CharField(max_length=300, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State, default=State.RUNNING)
    limit = models.PositiveIntegerField(default=200)
    read_count = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    requests_made = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"Audience check of {self.sequence} on {self.smart_view_name or self.smart_view_id}"


class LoginAttempt(models.Model):
    """One log-in attempt being counted against a throttle key (builder/views/auth.py).

    A row per attempt, not a counter: inserting is atomic on every database, so attempts sent in
    the same instant (from any worker or app server) are all counted, where a read-then-write
    counter would count a burst as one.
    """

    key = models.CharField(max_length=64)  # sha256 of (username, address) or (address)
    at = models.FloatField()  # time.time() of the attempt

    class Meta:
        indexes = [models.Index(fields=["key", "at"]), models.Index(fields=["at"])]

    def __str__(self):
        return f"log-in attempt {self.key[:8]}… at {self.at:.0f}"
