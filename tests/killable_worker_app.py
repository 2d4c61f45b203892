"""Switchboard's Celery app, for the worker that tests/integration/test_worker_faults.py
kills: `celery -A tests.killable_worker_app worker …`.

The same app and settings as `celery -A inbox`. Only where the Redis transport keeps its
record of unacknowledged tasks differs (keys named by SWITCHBOARD_UNACKED_KEYS): that
worker runs with a visibility timeout of seconds, and when it starts it hands back every
recorded task older than that. With the shared keys it would also hand back the tasks
other workers on the same Redis are running at that moment, and they would run twice.
"""

import os

from inbox.celery import app

_keys = os.environ["SWITCHBOARD_UNACKED_KEYS"]

app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,
    "unacked_key": f"{_keys}:unacked",
    "unacked_index_key": f"{_keys}:unacked_index",
    "unacked_mutex_key": f"{_keys}:unacked_mutex",
}

__all__ = ["app"]
