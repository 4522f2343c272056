"""Revisions store their steps by reference: StepSnapshot holds each step version once, under
the digest of its JSON, and Revision.step_digests lists a revision's steps in order (see
builder/snapshots.py). Existing revisions are converted: their steps move out of `snapshot`.
"""

import hashlib
import json

from django.db import migrations, models

BATCH = 200


def _digest(data):
    # Frozen copy of builder.snapshots.digest_of (a migration must not change with the app).
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def steps_by_reference(apps, schema_editor):
    Revision = apps.get_model("builder", "Revision")
    StepSnapshot = apps.get_model("builder", "StepSnapshot")
    pending = []
    for revision in Revision.objects.only("pk", "snapshot").iterator(chunk_size=BATCH):
        data = dict(revision.snapshot or {})
        if "steps" not in data:
            continue
        steps = data.pop("steps") or []
        digests = [_digest(step) for step in steps]
        StepSnapshot.objects.bulk_create(
            [StepSnapshot(digest=d, data=step) for d, step in zip(digests, steps, strict=True)],
            ignore_conflicts=True,
        )
        revision.snapshot, revision.step_digests = data, digests
        pending.append(revision)
        if len(pending) >= BATCH:
            Revision.objects.bulk_update(pending, ["snapshot", "step_digests"])
            pending = []
    Revision.objects.bulk_update(pending, ["snapshot", "step_digests"])


def steps_inline(apps, schema_editor):
    Revision = apps.get_model("builder", "Revision")
    StepSnapshot = apps.get_model("builder", "StepSnapshot")
    for revision in Revision.objects.iterator(chunk_size=BATCH):
        if "steps" in (revision.snapshot or {}):
            continue
        found = dict(
            StepSnapshot.objects.filter(digest__in=revision.step_digests).values_list(
                "digest", "data"
            )
        )
        revision.snapshot = {
            **revision.snapshot,
            "steps": [found[digest] for digest in revision.step_digests],
        }
        revision.save(update_fields=["snapshot"])


class Migration(migrations.Migration):
    dependencies = [
        ("builder", "0011_copy_review_audience"),
    ]

    operations = [
        migrations.CreateModel(
            name="StepSnapshot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("digest", models.CharField(max_length=64, unique=True)),
                ("data", models.JSONField()),
            ],
        ),
        migrations.AddField(
            model_name="revision",
            name="step_digests",
            field=models.JSONField(
                blank=True, default=list, help_text="The steps in order: StepSnapshot digests."
            ),
        ),
        migrations.AlterField(
            model_name="revision",
            name="snapshot",
            field=models.JSONField(
                help_text="spec.to_snapshot() of the sequence at this revision, without its steps."
            ),
        ),
        migrations.RunPython(steps_by_reference, steps_inline),
    ]
