"""The database cache table (login throttling counts failures there; see settings.CACHES).

`createcachetable` creates only the tables that are missing and does nothing for other cache
backends, so this is safe to run anywhere and keeps deployment to the usual `migrate`.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("builder", "0003_role_groups")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
