import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def freeze_what_the_worker_loaded(**_kwargs):
    """As the ASGI server does (inbox/asgi.py): keep startup objects out of full collections."""
    gc.freeze()
