"""Member import uploads and chunks move from media (served at MEDIA_URL) to the private storage, which no URL
serves; the job keeps the upload's name as text, so that no page renders a link to it; a scheduled sweep deletes the
uploads no import needs any more."""

from django.core.files.storage import storages
from django.db import migrations, models

IMPORT_DIRECTORIES = ("imports", "imports/chunks")


def move_import_files(apps, schema_editor):
    public, private = storages["default"], storages["private"]
    names = set(apps.get_model("members", "MemberImportJob").objects.exclude(file="").values_list("file", flat=True))
    for directory in IMPORT_DIRECTORIES:  # the uploads previewed but never imported, and the chunks of running jobs
        try:
            names.update(f"{directory}/{name}" for name in public.listdir(directory)[1])
        except (FileNotFoundError, NotImplementedError):
            pass
    for name in sorted(names):
        if not public.exists(name):
            continue
        if not private.exists(name):
            with public.open(name, "rb") as handle:
                private.save(name, handle)
        public.delete(name)


def schedule_uploads_sweep(apps, schema_editor):
    """Create the django-celery-beat schedule of the uploads sweep (idempotent; console edits are kept)."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _created = IntervalSchedule.objects.get_or_create(every=6, period="hours")
    PeriodicTask.objects.get_or_create(
        name="members: import uploads sweep",
        defaults={"task": "members.tasks.member_import_uploads_sweep_task", "interval": interval, "kwargs": "{}"},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("members", "0024_tier_index_serves_segments"),
    ]

    operations = [
        migrations.AlterField(
            model_name="memberimportjob",
            name="file",
            field=models.CharField(max_length=100, verbose_name="file"),
        ),
        migrations.RunPython(move_import_files, migrations.RunPython.noop),
        migrations.RunPython(schedule_uploads_sweep, migrations.RunPython.noop),
    ]
