"""A Celery worker a test can SIGKILL and start again (`celery -A tests.killable_worker_app`).

Shared by tests/integration/test_worker_faults.py (on the shared Redis) and the fault suite
in tests/reliability/ (on a Redis of its own). Its queue and its record of unacknowledged
tasks are read straight from Redis, so a test can tell when a task was taken, is waiting,
or was handed back.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

import redis

from tests.live_app import ROOT

# Short, so Redis hands a dead worker's unacknowledged task back soon after the kill. Only
# for workers run with CELERY_VISIBILITY_TIMEOUT set to it (see `start_after_…`).
VISIBILITY_TIMEOUT = 3
# kombu's Redis transport keeps a queue's messages of priority 3, 6 and 9 in lists of
# their own, named with this separator.
PRIORITY_SEPARATOR = "\x06\x16"


class KillableWorker:
    """One Celery worker process in its own process group, to start, SIGKILL and start
    again. `env` must name its queue (CELERY_QUEUE) and unacked keys
    (SWITCHBOARD_UNACKED_KEYS, see tests/killable_worker_app.py)."""

    def __init__(self, env, logs, queue):
        self.env = env
        self.logs = logs
        self.queue = queue
        self.process = None
        self.log = None
        self.starts = 0
        self.killed_at = None
        self.redis = redis.Redis.from_url(env["REDIS_URL"])

    def start(self, *options):
        assert self.process is None, "the worker is already running"
        self.starts += 1
        self.log = self.logs / f"worker-{self.starts}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.killable_worker_app",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            self.queue,
            "-n",
            f"{self.queue}-{self.starts}@%h",
            *options,
        ]
        self.process = subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log, "wb"),  # noqa: SIM115 - lives as long as the process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 40
        while b"ready." not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = self.log.read_text(errors="replace")[-4000:]
                self._end(signal.SIGKILL)
                raise RuntimeError(f"the worker did not start:\n{output}")
            time.sleep(0.1)

    def kill(self):
        """SIGKILL the worker and its pool: nothing is acknowledged, nothing cleaned up."""
        self._end(signal.SIGKILL)
        self.killed_at = time.monotonic()

    def start_after_the_visibility_timeout(self, *options):
        """Start again once Redis considers the dead worker's tasks abandoned."""
        left = self.killed_at + VISIBILITY_TIMEOUT + 1 - time.monotonic()
        if left > 0:
            time.sleep(left)
        self.start(*options)

    def stop(self):
        if self.process is None:
            return
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(15)
        self._end(signal.SIGKILL)

    def _end(self, sig):
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(10)
        self.process = None

    # -- what Redis holds for this worker ------------------------------------------------------

    def _queue_keys(self):
        return [self.queue] + [f"{self.queue}{PRIORITY_SEPARATOR}{p}" for p in (3, 6, 9)]

    def waiting(self):
        """Tasks in the queue that no worker has taken."""
        return sum(self.redis.llen(key) for key in self._queue_keys())

    def unacknowledged(self):
        """Tasks a worker took and has not acknowledged (running, or reserved for later)."""
        return self.redis.hlen(f"{self.queue}:unacked")

    def idle(self):
        return self.waiting() == 0 and self.unacknowledged() == 0

    def lose_waiting_tasks(self):
        self.redis.delete(*self._queue_keys())

    def finished(self, task_id):
        """The running worker has finished the task with this id."""
        return f"deliver_message[{task_id}] succeeded".encode() in self.log.read_bytes()

    def forget(self):
        self.lose_waiting_tasks()
        self.redis.delete(f"{self.queue}:unacked", f"{self.queue}:unacked_index")
        for key in self.redis.scan_iter(match=f"_kombu.binding*.{self.queue}"):
            self.redis.delete(key)
