from django.core.management.base import BaseCommand

from points.schedules import schedules_ensure


class Command(BaseCommand):
    help = "Register the points jobs in django-celery-beat (missing ones only; console edits are kept)."

    def handle(self, *args, **options):
        created = schedules_ensure()
        for name in created:
            self.stdout.write(f"created {name}")
        self.stdout.write(self.style.SUCCESS(f"{len(created)} schedule(s) created"))
