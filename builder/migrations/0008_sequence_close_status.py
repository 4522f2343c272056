from django.db import migrations, models


def from_last_publish(apps, schema_editor):
    """Sequences published before this field existed: Close's answer to their last successful
    publish says their status (imports left no answer: unknown until the next publish)."""
    Sequence = apps.get_model("builder", "Sequence")
    PublishAttempt = apps.get_model("builder", "PublishAttempt")
    for sequence in Sequence.objects.exclude(close_id="").only("pk"):
        attempt = (
            PublishAttempt.objects.filter(
                sequence=sequence, outcome__in=["published", "found_existing"]
            )
            .order_by("-started_at", "-pk")
            .first()
        )
        body = attempt.response_body if attempt else None
        status = body.get("status") if isinstance(body, dict) else None
        if isinstance(status, str) and status:
            Sequence.objects.filter(pk=sequence.pk).update(close_status=status[:20])


class Migration(migrations.Migration):
    dependencies = [
        ("builder", "0007_login_attempts"),
    ]

    operations = [
        migrations.AddField(
            model_name="sequence",
            name="close_status",
            field=models.CharField(blank=True, max_length=20, verbose_name="status in Close"),
        ),
        migrations.RunPython(from_last_publish, migrations.RunPython.noop),
    ]
