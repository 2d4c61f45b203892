"""Periodic tasks in-process, for the embedded mode where no Celery beat runs.

Reads the same CELERY_BEAT_SCHEDULE that beat uses and runs each due task in this
process, on one daemon thread.
"""

import logging
import threading
import time

from celery.schedules import schedule as celery_schedule
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from inbox.celery import app

logger = logging.getLogger(__name__)
_started = threading.Event()


def _as_schedule(value):
    return value if hasattr(value, "is_due") else celery_schedule(run_every=value)


def _task(name):
    # A worker imports every app's tasks module when it starts; the web process does not,
    # so the first lookup of a task that nothing has imported yet loads them.
    if name not in app.tasks:
        app.autodiscover_tasks(force=True)
    return app.tasks[name]


def run_due_tasks(last_run, now=None):
    """Run every entry that is due; returns how many ran. `last_run` is updated in place."""
    now = now or timezone.now()
    ran = 0
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        schedule = _as_schedule(entry["schedule"])
        previous = last_run.setdefault(name, now)
        if previous == now:
            continue
        due, _next = schedule.is_due(previous)
        if not due:
            continue
        last_run[name] = now
        try:
            _task(entry["task"]).apply(args=entry.get("args", ()))
            ran += 1
        except Exception:
            logger.exception("Periodic task %s failed", name)
        finally:
            close_old_connections()
    return ran


def start_in_process_scheduler(interval=5.0):
    """Start the scheduler thread once per process."""
    if _started.is_set():
        return
    _started.set()

    def loop():
        last_run = {}
        while True:
            run_due_tasks(last_run)
            time.sleep(interval)

    threading.Thread(target=loop, name="switchboard-scheduler", daemon=True).start()
    logger.info("Periodic tasks run in-process (embedded mode)")
