from django.contrib import admin

from builder.models import CloseTemplate, PublishAttempt, ScheduleRange, Sequence, Step


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    fields = [
        "position",
        "step_type",
        "delay",
        "email_template_id",
        "sms_template_id",
        "threading",
        "required",
        "close_id",
    ]


class ScheduleRangeInline(admin.TabularInline):
    model = ScheduleRange
    extra = 0


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "timezone", "close_id", "updated_by", "updated_at"]
    list_filter = ["status"]
    search_fields = ["name", "close_id"]
    readonly_fields = ["version", "publishing_since", "created_at", "updated_at"]
    inlines = [StepInline, ScheduleRangeInline]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["sequence", "position", "step_type", "delay", "threading", "close_id"]
    list_select_related = ["sequence"]


@admin.register(ScheduleRange)
class ScheduleRangeAdmin(admin.ModelAdmin):
    list_display = ["sequence", "weekday", "start", "end"]
    list_select_related = ["sequence"]


@admin.register(CloseTemplate)
class CloseTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "close_id", "is_shared", "is_archived", "present_in_close"]
    list_filter = ["kind", "is_shared", "is_archived", "present_in_close"]
    search_fields = ["name", "subject", "close_id"]


@admin.register(PublishAttempt)
class PublishAttemptAdmin(admin.ModelAdmin):
    list_display = ["sequence", "user", "started_at", "outcome", "response_status", "duration_ms"]
    list_filter = ["outcome"]
    list_select_related = ["sequence", "user"]
    readonly_fields = [field.name for field in PublishAttempt._meta.fields]
