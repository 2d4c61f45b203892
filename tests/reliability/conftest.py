"""The fault suite's processes: a private PostgreSQL cluster per session, and per test a
Redis, daphne, a killable Celery worker and the provider sandbox, all on free ports.

Needs the PostgreSQL server binaries and redis-server on this machine (not DATABASE_URL
or REDIS_URL: the shared services are never touched). Without them the suite is skipped
locally and fails in CI, where a missing binary is an error, never a reason to skip.
"""

import os
import subprocess
import sys

import pytest

from tests.live_app import ROOT
from tests.reliability.stack import PostgresCluster, Stack, missing_binaries

TEMPLATE = "switchboard_fault_template"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "reliability: kills and restarts private PostgreSQL, Redis, daphne and Celery "
        "processes (needs initdb, pg_ctl and redis-server)",
    )


def pytest_runtest_setup(item):
    if item.get_closest_marker("reliability") is None:
        return
    missing = missing_binaries()
    if not missing:
        return
    reason = f"needs {', '.join(missing)}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: in CI every fault test runs", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_cluster():
    """A PostgreSQL cluster of our own, with a template database migrated and holding
    the demo workspace: each test's database is a copy of it."""
    cluster = PostgresCluster().init()
    try:
        cluster.start()
        cluster.create_database(TEMPLATE)
        env = {**os.environ, "DATABASE_URL": cluster.url(TEMPLATE), "DATABASE_POOL_MIN": "0"}
        env.pop("REDIS_URL", None)
        env["SWITCHBOARD_LOCAL_DIR"] = str(ROOT / ".local")
        for command in (["migrate", "--noinput", "-v0"], ["load_demo_data"]):
            subprocess.run(  # noqa: S603
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def sandbox():
    """The provider sandbox of this test only (it may be stopped and started again)."""
    from inbox.sandbox import Sandbox

    sandbox = Sandbox(port=0).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def stack_env():
    """Settings a test wants its processes started with (override in the test module)."""
    return {}


@pytest.fixture
def worker_options():
    """Options the stack's Celery worker is started with (override in the test module)."""
    return ()


@pytest.fixture
def stack(postgres_cluster, sandbox, tmp_path, stack_env, worker_options):
    """A fresh database and the whole app on it; the demo inboxes on the sandbox."""
    if not postgres_cluster.is_up():
        postgres_cluster.start()
    database = postgres_cluster.create_database(template=TEMPLATE)
    stack = Stack(postgres_cluster, database, sandbox, tmp_path, extra_env=stack_env)
    try:
        stack.start(worker_options)
        stack.workspace = stack.control("workspace")
        for provider, fields in stack.workspace["accounts"]:
            sandbox.add_account(provider, **fields)
        yield stack
    except BaseException:
        for name in ("web.log", "control.log", f"worker-{stack.worker.starts}.log"):
            sys.stderr.write(f"--- {name}\n{stack.log_tail(name)}\n")
        raise
    finally:
        sandbox.release()
        stack.stop()
