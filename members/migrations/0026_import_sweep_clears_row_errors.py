"""The import sweep also deletes the rows with errors of imports finished MEMBER_IMPORT_ERRORS_KEEP_DAYS ago (they
quote members' data): its schedule now names the task that does both."""

from django.db import migrations

OLD = ("members: import uploads sweep", "members.tasks.member_import_uploads_sweep_task")
NEW = ("members: import sweep (uploads, row errors)", "members.tasks.member_import_sweep_task")


def rename_schedule(apps, schema_editor, *, before=OLD, after=NEW):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    name, task = after
    PeriodicTask.objects.filter(task=before[1]).update(name=name, task=task)


def restore_schedule(apps, schema_editor):
    rename_schedule(apps, schema_editor, before=NEW, after=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("members", "0025_import_files_private"),
    ]

    operations = [migrations.RunPython(rename_schedule, restore_schedule)]
