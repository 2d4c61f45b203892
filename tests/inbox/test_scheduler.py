"""The in-process scheduler of the embedded mode: it runs what is due, and only that."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import LiveEvent
from inbox.celery import app as celery_app
from inbox.scheduler import run_due_tasks

calls = []


@celery_app.task(name="tests.inbox.record_scheduled_call")
def record_scheduled_call(*args):
    calls.append(args)


@pytest.fixture
def schedule(settings, db):
    calls.clear()
    settings.CELERY_BEAT_SCHEDULE = {
        "every-ten-minutes": {
            "task": "tests.inbox.record_scheduled_call",
            "schedule": timedelta(minutes=10),
            "args": ("tick",),
        },
    }
    yield settings.CELERY_BEAT_SCHEDULE
    calls.clear()


def test_an_entry_seen_for_the_first_time_waits_for_its_interval(schedule):
    last_run = {}

    assert run_due_tasks(last_run) == 0

    assert calls == []
    assert set(last_run) == {"every-ten-minutes"}


def test_a_due_entry_runs_with_its_arguments(schedule):
    eleven_minutes_ago = timezone.now() - timedelta(minutes=11)
    last_run = {"every-ten-minutes": eleven_minutes_ago}

    assert run_due_tasks(last_run) == 1

    assert calls == [("tick",)]
    assert last_run["every-ten-minutes"] > eleven_minutes_ago


def test_an_entry_that_is_not_yet_due_does_not_run(schedule):
    last_run = {"every-ten-minutes": timezone.now() - timedelta(minutes=1)}

    assert run_due_tasks(last_run) == 0

    assert calls == []


def test_an_entry_runs_once_per_interval(schedule):
    last_run = {"every-ten-minutes": timezone.now() - timedelta(minutes=11)}

    run_due_tasks(last_run)
    run_due_tasks(last_run)

    assert calls == [("tick",)]


def test_a_broken_entry_does_not_stop_the_others(schedule, caplog):
    schedule["a-task-that-does-not-exist"] = {
        "task": "tests.inbox.no_such_task",
        "schedule": timedelta(minutes=1),
    }
    long_ago = timezone.now() - timedelta(hours=1)
    last_run = {"a-task-that-does-not-exist": long_ago, "every-ten-minutes": long_ago}

    assert run_due_tasks(last_run) == 1

    assert calls == [("tick",)]
    assert "Periodic task a-task-that-does-not-exist failed" in caplog.text


def test_every_real_entry_runs_when_due(transactional_db, settings, caplog):
    # Transactional: the scheduler closes its connection after each task, as it would in
    # its own thread, which a test wrapped in one transaction could not survive.
    stale = LiveEvent.objects.create(kind="message.created")
    LiveEvent.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - settings.LIVE_EVENT_RETENTION - timedelta(hours=1)
    )
    yesterday = timezone.now() - timedelta(days=1)
    last_run = dict.fromkeys(settings.CELERY_BEAT_SCHEDULE, yesterday)

    ran = run_due_tasks(last_run)

    assert "failed" not in caplog.text
    assert ran == len(settings.CELERY_BEAT_SCHEDULE)
    assert not LiveEvent.objects.filter(pk=stale.pk).exists()
