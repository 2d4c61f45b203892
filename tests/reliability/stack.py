"""Switchboard's processes for one fault test, on ports of their own, to kill and restart.

`PostgresCluster` is a throwaway PostgreSQL cluster (initdb / pg_ctl, run as the
`postgres` user since PostgreSQL refuses root), started once per test session; each test
gets a fresh database cloned from a template that was migrated and given the demo data
once. `RedisServer`, daphne, a killable Celery worker and a `Control` process (Django on
the same database and Redis, to run services and sweepers with an injected clock) are
started per test by `Stack`. Nothing here touches the shared PostgreSQL or Redis.
"""

import contextlib
import glob
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import redis

from inbox.sandbox.inboxes import settings_for_sandbox
from tests.killable_worker import KillableWorker
from tests.live_app import ROOT, free_port, wait_until


def postgres_bin():
    """The newest PostgreSQL server binaries installed, or None."""

    def version(path):
        name = Path(path).parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def missing_binaries():
    missing = []
    bin_dir = postgres_bin()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        missing.append("PostgreSQL server binaries (initdb, pg_ctl)")
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    if not shutil.which("runuser") and not shutil.which("su"):
        missing.append("runuser or su")
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("a `postgres` user to run PostgreSQL as")
    return missing


def _as_postgres(command):
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(map(str, command))]


class PostgresCluster:
    """A PostgreSQL cluster in a temporary directory, on a free port."""

    def __init__(self):
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def url(self, name):
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def init(self):
        subprocess.run(  # noqa: S603
            _as_postgres(
                [
                    self.bin / "initdb",
                    "-D",
                    self.data,
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        return self

    def start(self):
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        subprocess.run(  # noqa: S603
            _as_postgres(
                [self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode="fast"):
        subprocess.run(  # noqa: S603
            _as_postgres([self.bin / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"]),
            check=True,
            capture_output=True,
        )

    def is_up(self):
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name=None, template=None):
        name = name or f"switchboard_fault_{next(self._names)}"
        clause = f" TEMPLATE {template}" if template else ""
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}{clause}")
        return name

    def destroy(self):
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A Redis server that keeps nothing on disk, to SIGKILL and start again (empty)."""

    def __init__(self, logs):
        self.port = free_port()
        self.logs = logs
        self.process = None
        self.starts = 0

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        assert self.process is None
        self.starts += 1
        self.process = subprocess.Popen(  # noqa: S603
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=open(self.logs / f"redis-{self.starts}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers():
            try:
                return client.ping()
            except redis.RedisError:
                return False

        wait_until(answers, 10, "redis-server")
        client.close()

    def kill(self):
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None


class Control:
    """Django inside the stack (same database, same Redis): runs functions of
    tests/reliability/ops.py on request, one JSON line in, one JSON line out."""

    def __init__(self, env, logs):
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.reliability.control"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(logs / "control.log", "wb"),  # noqa: SIM115
            text=True,
            bufsize=1,
        )
        self.logs = logs

    def __call__(self, op, **kwargs):
        self.process.stdin.write(json.dumps({"op": op, "kwargs": kwargs}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            log = (self.logs / "control.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the control process ended:\n{log}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{op} failed in the stack:\n{answer['error']}")
        return answer["result"]

    def stop(self):
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class Stack:
    """daphne, a killable Celery worker, a Redis and a Control on one test database."""

    def __init__(self, cluster, database, sandbox, logs, extra_env=None):
        self.cluster = cluster
        self.database = database
        self.sandbox = sandbox
        self.logs = logs
        self.redis = RedisServer(logs)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.queue = f"switchboard-fault-{self.port}"
        self.env = {
            **os.environ,
            **settings_for_sandbox(sandbox.url),
            "DATABASE_URL": cluster.url(database),
            "REDIS_URL": self.redis.url,
            "CHANNEL_LAYER_PREFIX": "switchboard-fault",
            "CELERY_QUEUE": self.queue,
            "SWITCHBOARD_UNACKED_KEYS": self.queue,
            "PORT": str(self.port),
            "PUBLIC_URL": self.url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SWITCHBOARD_LOCAL_DIR": str(ROOT / ".local"),
            "MEDIA_ROOT": str(logs / "media"),
            "DATABASE_POOL_MIN": "1",
            "DATABASE_POOL_MAX": "6",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_ENV": "development",
            "PROVIDER_READ_TIMEOUT": "3",
            "OUTBOUND_RETRY_BASE_DELAY": "0.3",
            "OUTBOUND_MAX_ATTEMPTS": "8",
            **(extra_env or {}),
        }
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.web = None
        self.worker = KillableWorker(self.env, logs, self.queue)
        self.control = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, worker_options=()):
        self.redis.start()
        self.start_web()
        self.control = Control(self.env, self.logs)
        self.worker.start(*worker_options)
        return self

    def start_web(self):
        self.web = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "inbox.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.logs / "web.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answers():
            try:
                return httpx.get(f"{self.url}/accounts/login/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(answers, 30, "daphne")
        except RuntimeError:
            sys.stderr.write((self.logs / "web.log").read_text(errors="replace")[-4000:])
            raise

    def restart_web(self):
        """SIGKILL daphne (every socket drops, nothing is said to the clients) and start it
        again on the same port."""
        os.killpg(self.web.pid, signal.SIGKILL)
        self.web.wait(10)
        self.start_web()

    def stop(self):
        if self.control is not None:
            self.control.stop()
        # The test is over: nothing needs a graceful shutdown.
        self.worker.kill()
        if self.web is not None and self.web.poll() is None:
            self.web.terminate()
            try:
                self.web.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.web.pid, signal.SIGKILL)
                self.web.wait(5)
        self.redis.kill()

    def log_tail(self, name, size=3000):
        path = self.logs / name
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    # -- waiting on the stack --------------------------------------------------------------------

    def wait_for(self, op, check=bool, timeout=30, **kwargs):
        """Call the control op until `check(result)` holds; returns the result."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.control(op, **kwargs)
            if check(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{op}({kwargs}) never satisfied the check; last: {result}")
            time.sleep(0.1)
