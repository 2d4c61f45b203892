import gc
import os

from celery import Celery
from celery.signals import task_postrun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def freeze_what_the_worker_loaded(**_kwargs):
    """As the ASGI server does (inbox/asgi.py): keep startup objects out of full collections."""
    gc.freeze()


@task_postrun.connect
def return_database_connections(task=None, **_kwargs):
    """Hand a task's connection back to the process's pool (settings.CELERY_DB_REUSE_MAX),
    or drop it if it broke, as Django does at the end of a request."""
    if task is not None and getattr(task.request, "is_eager", False):
        return  # ran inside the caller's process and transaction: not ours to close
    from django.db import close_old_connections

    close_old_connections()
