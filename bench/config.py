"""What a bench run is: its scale, where its data lives, and the environment it needs.

Everything here is read before Django is set up: the bench points Django (and the
processes it starts) at its own database, Redis db, channel-layer prefix and Celery
queue, so it never touches the app's data or a test run's.
"""

import base64
import hashlib
import os
import resource
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Scale:
    name: str
    # The dataset.
    inboxes: int
    agents: int
    supervisors: int
    contacts: int
    conversations: int
    messages: int
    long_thread: int
    # The push test.
    agent_sockets: int
    supervisor_sockets: int
    rate_per_s: int
    duration_s: int
    # The ingest burst and the socket tests.
    ingest_messages: int
    idle_sockets: int
    held_sockets: int
    # How long to wait for a backlog to be applied and pushed before counting what is
    # missing as lost (the bench must end even when the app cannot keep up).
    drain_s: int

    def dataset_key(self):
        """The parameters the stored dataset depends on (the marker compares these)."""
        keys = ("inboxes", "agents", "supervisors", "contacts", "conversations", "messages")
        return {key: getattr(self, key) for key in (*keys, "long_thread")}


SCALES = {
    "full": Scale(
        name="full",
        inboxes=10,
        agents=200,
        supervisors=10,
        contacts=50_000,
        conversations=100_000,
        messages=1_000_000,
        long_thread=10_000,
        agent_sockets=200,
        supervisor_sockets=10,
        rate_per_s=100,
        duration_s=60,
        ingest_messages=1000,
        idle_sockets=500,
        held_sockets=2000,
        drain_s=600,
    ),
    "small": Scale(
        name="small",
        inboxes=10,
        agents=20,
        supervisors=2,
        contacts=5_000,
        conversations=10_000,
        messages=100_000,
        # The thread key still needs its 10,000 messages, whatever the scale.
        long_thread=10_000,
        agent_sockets=20,
        supervisor_sockets=2,
        rate_per_s=100,
        duration_s=20,
        ingest_messages=300,
        idle_sockets=100,
        held_sockets=2000,  # what one ASGI process must hold, whatever the data size
        drain_s=240,
    ),
}


class NotConfigured(SystemExit):
    pass


REFUSAL = """\
make bench needs PostgreSQL and Redis; it does not run on the embedded default
(SQLite, in-memory channel layer, eager tasks), which is not what is measured.
Set both, e.g.:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/switchboard \\
    REDIS_URL=redis://127.0.0.1:6379/0 make bench

The bench keeps its data in its own database (switchboard_bench_<scale>) on that
server and uses Redis db {redis_db}; it never writes to the database you name."""


@dataclass(frozen=True)
class Environment:
    scale: Scale
    server_url: str  # the DATABASE_URL given, used to reach the server
    database_url: str  # the bench's own database on that server
    database_name: str
    redis_url: str
    prefix: str
    queue: str

    def process_env(self):
        """What the bench and every process it starts run with."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "CHANNEL_LAYER_PREFIX": self.prefix,
            "CELERY_QUEUE": self.queue,
            "DJANGO_DEBUG": "0",
            "DJANGO_ENV": "development",
            "SWITCHBOARD_SCHEDULER": "0",
            # The dataset outlives any one checkout, and its inboxes' secrets are encrypted:
            # every bench run, wherever it runs from, uses this bench-only key.
            "FIELD_ENCRYPTION_KEY": BENCH_FIELD_ENCRYPTION_KEY,
        }


BENCH_FIELD_ENCRYPTION_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"switchboard bench dataset only").digest()
).decode()


def _with_path(url, path):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def load():
    """The bench environment from DATABASE_URL, REDIS_URL and BENCH_SCALE, or refuse."""
    redis_db = os.environ.get("BENCH_REDIS_DB", "5")
    database = os.environ.get("DATABASE_URL", "")
    redis = os.environ.get("REDIS_URL", "")
    if not database.startswith(("postgres://", "postgresql://")) or not redis:
        raise NotConfigured(REFUSAL.format(redis_db=redis_db))
    name = os.environ.get("BENCH_SCALE", "full")
    if name not in SCALES:
        raise NotConfigured(f"BENCH_SCALE must be one of {', '.join(SCALES)}, not {name!r}.")
    scale = SCALES[name]
    database_name = f"switchboard_bench_{scale.name}"
    return Environment(
        scale=scale,
        server_url=database,
        database_url=_with_path(database, "/" + database_name),
        database_name=database_name,
        redis_url=_with_path(redis, "/" + redis_db),
        prefix="bench",
        queue="bench",
    )


def apply(environment):
    """Point this process (and Django, once set up) at the bench's database and Redis."""
    os.environ.update(environment.process_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")


def raise_open_files(wanted):
    """Raise the soft limit on open files toward `wanted` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def git_commit():
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty else "")


def describe(scale):
    return asdict(scale)
