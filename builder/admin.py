from django.contrib import admin

from builder.models import (
    STEP_COLUMNS,
    CloseTemplate,
    PublishAttempt,
    ScheduleRange,
    Sequence,
    Step,
)

# Admin is for looking and for fixing data, never a way around review. The review state, the
# approval, the publication and Close's ids are written only by builder/review.py,
# publishing.py and importing.py, which check who may do it and record it in the state log;
# a staff member who could set "Approved" here would publish with no approval in that log.
SEQUENCE_SERVICE_FIELDS = [
    "status",
    "approved_revision",
    "published_revision",
    "published_at",
    "published_by",
    "publishing_since",
    "close_id",
    "version",
    "created_by",
    "updated_by",
]


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    readonly_fields = ["close_id"]  # Close's step id: set by publishing and importing only
    # Every stored step field but `extra`: Close's own data for a step we keep, not for hand edits.
    fields = ["position", *(name for name in STEP_COLUMNS if name != "extra")]


class ScheduleRangeInline(admin.TabularInline):
    model = ScheduleRange
    extra = 0


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "timezone", "close_id", "updated_by", "updated_at"]
    list_filter = ["status"]
    search_fields = ["name", "close_id"]
    readonly_fields = [*SEQUENCE_SERVICE_FIELDS, "created_at", "updated_at"]
    inlines = [StepInline, ScheduleRangeInline]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["sequence", "position", "step_type", "delay", "threading", "close_id"]
    list_select_related = ["sequence"]
    readonly_fields = ["sequence", "close_id"]

    def has_add_permission(self, request):
        return False  # a step is added on its sequence's page (the inline), under its sequence


@admin.register(ScheduleRange)
class ScheduleRangeAdmin(admin.ModelAdmin):
    list_display = ["sequence", "weekday", "start", "end"]
    list_select_related = ["sequence"]


@admin.register(CloseTemplate)
class CloseTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "close_id", "is_shared", "is_archived", "present_in_close"]
    list_filter = ["kind", "is_shared", "is_archived", "present_in_close"]
    search_fields = ["name", "subject", "close_id"]
    # A copy of Close's templates: which template it is and whether Close has it come from
    # Close (sync), or a step could be pointed at a template Close does not have.
    readonly_fields = ["close_id", "present_in_close", "synced_at"]


@admin.register(PublishAttempt)
class PublishAttemptAdmin(admin.ModelAdmin):
    list_display = ["sequence", "user", "started_at", "outcome", "response_status", "duration_ms"]
    list_filter = ["outcome"]
    list_select_related = ["sequence", "user"]
    readonly_fields = [field.name for field in PublishAttempt._meta.fields]

    # The record of what was sent to Close and what it answered: nobody writes or erases it.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
