"""Refresh the local cache of Close's email and SMS templates."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from builder import close
from builder.models import CloseTemplate


@dataclass
class SyncResult:
    email: int
    sms: int
    vanished: int

    @property
    def message(self):
        text = f"Synced {self.email} email and {self.sms} SMS templates from Close."
        if self.vanished:
            text += f" {self.vanished} no longer exist in Close."
        return text


def sync_templates(*, client=None):
    """Fetch every template (shared or not, archived or not) so the editor can flag them."""
    if client is None:
        # A client made here is ours to close (its HTTP session holds sockets open).
        with close.client_from_settings() as own_client:
            return sync_templates(client=own_client)
    now = timezone.now()
    email = [_email_row(data, now) for data in client.iter_email_templates()]
    sms = [_sms_row(data, now) for data in client.iter_sms_templates()]
    rows = email + sms
    with transaction.atomic():
        CloseTemplate.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["close_id"],
            update_fields=[
                "kind",
                "name",
                "subject",
                "body",
                "is_shared",
                "is_archived",
                "present_in_close",
                "synced_at",
            ],
        )
        # Every template Close still has was just stamped with `now`; the rest vanished.
        vanished = CloseTemplate.objects.filter(present_in_close=True, synced_at__lt=now).update(
            present_in_close=False
        )
    return SyncResult(email=len(email), sms=len(sms), vanished=vanished)


def _email_row(data, now):
    return CloseTemplate(
        close_id=data["id"],
        kind=CloseTemplate.Kind.EMAIL,
        name=(data.get("name") or "")[:300],
        subject=(data.get("subject") or "")[:1000],
        body=data.get("body") or "",
        is_shared=bool(data.get("is_shared")),
        is_archived=bool(data.get("is_archived")),
        present_in_close=True,
        synced_at=now,
    )


def _sms_row(data, now):
    return CloseTemplate(
        close_id=data["id"],
        kind=CloseTemplate.Kind.SMS,
        name=(data.get("name") or "")[:300],
        body=data.get("text") or "",
        is_shared=bool(data.get("is_shared")),
        is_archived=data.get("status") == "archived",
        present_in_close=True,
        synced_at=now,
    )
