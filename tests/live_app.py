"""Run the real thing for integration and browser tests: daphne and a Celery worker.

Both are separate processes on the test database and the real Redis, started once per
test session, exactly as the Procfile starts them.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from inbox.sandbox.smtp import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LiveApp:
    url: str
    port: int
    processes: dict
    logs: Path

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def start_live_app(database_url, tmp_dir, extra_env=None):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "PUBLIC_URL": url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SWITCHBOARD_LOCAL_DIR": str(ROOT / ".local"),
        "MEDIA_ROOT": str(tmp_dir / "media"),
        "DATABASE_POOL_MAX": "8",
        "PYTHONUNBUFFERED": "1",
        # Its own queue: another test run on the same Redis must not take these tasks.
        "CELERY_QUEUE": f"switchboard-test-{port}",
        **(extra_env or {}),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    logs = tmp_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    commands = {
        "web": [
            python,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "inbox.asgi:application",
        ],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "inbox",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"test-{port}@%h",
        ],
    }
    processes = {
        name: subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env=env,
            stdout=open(logs / f"{name}.log", "wb"),  # noqa: SIM115 - lives as long as the process
            stderr=subprocess.STDOUT,
        )
        for name, command in commands.items()
    }
    app = LiveApp(url, port, processes, logs)

    def web_answers():
        try:
            return httpx.get(f"{url}/accounts/login/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def worker_ready():
        return b"ready." in (logs / "worker.log").read_bytes()

    try:
        wait_until(web_answers, 30, "daphne")
        wait_until(worker_ready, 30, "the Celery worker")
    except RuntimeError:
        app.stop()
        for log in logs.iterdir():
            sys.stderr.write(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}\n")
        raise
    return app
