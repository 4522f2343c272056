from django.core.management.base import BaseCommand, CommandError

from builder import close, template_sync


class Command(BaseCommand):
    help = "Fetch Close's email and SMS templates into the local cache."

    def handle(self, *args, **options):
        try:
            result = template_sync.sync_templates()
        except close.CloseError as error:
            raise CommandError(f"Templates were not synced: {error.message}") from error
        self.stdout.write(self.style.SUCCESS(result.message))
