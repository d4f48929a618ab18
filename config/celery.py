import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("loyalty")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def connections_as_between_requests(sender=None, **kwargs):
    """Before a task on a worker, drop a connection that is too old (CONN_MAX_AGE), broken or left in an error,
    as Django does between requests (settings.CELERY_DB_REUSE_MAX keeps the fixup from closing every one).
    Not for an eager task: it runs inside its caller's connection and transaction."""
    if getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
