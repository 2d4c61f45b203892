"""Start Switchboard on the bench database as the Procfile does: daphne, Celery worker, beat.

`start(environment, web=2, workers=2)` runs that many of each, all sharing the bench's
PostgreSQL database and Redis db. Every process writes its log under bench/data/logs/.
"""

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.config import ROOT
from inbox.sandbox.smtp import free_port

DATA = ROOT / "bench" / "data"


@dataclass
class RunningApp:
    ports: list
    processes: dict
    logs: Path
    web_pids: list = field(default_factory=list)

    @property
    def urls(self):
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def errors(self):
        """Tracebacks in the processes' logs so far."""
        return sum(
            log.read_text(errors="replace").count("Traceback") for log in self.logs.glob("*.log")
        )


def _wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def start(environment, name, web=1, workers=1, beat=True):
    logs = DATA / "logs" / name
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    ports = [free_port() for _ in range(web)]
    base_env = {
        **os.environ,
        **environment.process_env(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SWITCHBOARD_LOCAL_DIR": str(ROOT / ".local"),
        "MEDIA_ROOT": str(DATA / "media"),
        "PYTHONUNBUFFERED": "1",
    }
    python = sys.executable
    commands = {}
    for n, port in enumerate(ports):
        commands[f"web{n}"] = (
            [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "inbox.asgi:application"],
            {"PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}"},
        )
    for n in range(workers):
        commands[f"worker{n}"] = (
            [
                python,
                *("-m", "celery", "-A", "inbox", "worker", "--loglevel=INFO"),
                *("--without-gossip", "--without-mingle", "-n", f"bench{n}-{ports[0]}@%h"),
            ],
            {"PUBLIC_URL": f"http://127.0.0.1:{ports[0]}"},
        )
    if beat:
        commands["beat"] = (
            [
                python,
                *("-m", "celery", "-A", "inbox", "beat", "--loglevel=INFO"),
                *("-s", str(logs / "celerybeat-schedule")),
            ],
            {"PUBLIC_URL": f"http://127.0.0.1:{ports[0]}"},
        )
    processes = {
        key: subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env={**base_env, **extra},
            stdout=open(logs / f"{key}.log", "wb"),  # noqa: SIM115 - lives with the process
            stderr=subprocess.STDOUT,
        )
        for key, (command, extra) in commands.items()
    }
    app = RunningApp(ports, processes, logs)
    app.web_pids = [processes[f"web{n}"].pid for n in range(web)]

    def answers(url):
        def check():
            try:
                return httpx.get(f"{url}/accounts/login/", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        return check

    def worker_ready(n):
        return lambda: b"ready." in (logs / f"worker{n}.log").read_bytes()

    try:
        for url in app.urls:
            _wait_until(answers(url), 60, f"daphne at {url}")
        for n in range(workers):
            _wait_until(worker_ready(n), 60, f"Celery worker {n}")
    except RuntimeError:
        app.stop()
        for log in logs.glob("*.log"):
            sys.stderr.write(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}\n")
        raise
    return app


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
