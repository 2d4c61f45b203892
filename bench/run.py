"""`make bench`: Switchboard's benchmark suite on PostgreSQL and Redis.

    DATABASE_URL=postgres://… REDIS_URL=redis://… make bench           # full scale
    BENCH_SCALE=small DATABASE_URL=… REDIS_URL=… make bench             # a tenth

Builds (or reuses) the bench dataset in its own database, then measures, in this order:
the floor (bare insert+commit, Redis round trip); the list, a 10,000-message thread and
search, in process; push latency and lost updates under offered load, then the ingest
rate, against daphne + a Celery worker + beat as the Procfile starts them; memory per
idle socket and sockets held by one daphne; the push test again with two daphnes and two
workers. Prints a table and writes bench/results.json. See bench/README.md.
"""

import asyncio
import json
import logging
import os
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, this folder comes first on sys.path: put the project root there instead,
# so `bench.app` and the rest never shadow a top-level module.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import config  # noqa: E402

RESULTS = config.ROOT / "bench" / "results.json"
# The cost step's light load (bench/cost.py): far below what the machine can apply.
COST_RATE = int(os.environ.get("BENCH_COST_RATE", "20"))
COST_DURATION = int(os.environ.get("BENCH_COST_DURATION", "15"))

TARGETS = {
    "floor_ms": None,
    "push_p50_ms": ("<=", 30),
    "push_p99_ms": ("<=", 150),
    "push_lost": ("<=", 0),
    "push_p50_over_floor": None,
    "ingest_msgs_per_s": (">=", 250),
    "list_p50_ms": ("<=", 30),
    "list_p99_ms": ("<=", 100),
    "list_queries": ("<=", 10),
    "thread_10k_p50_ms": ("<=", 30),
    "search_p50_ms": ("<=", 50),
    "search_p99_ms": ("<=", 200),
    "socket_kib_each": ("<=", 150),
    "sockets_held": (">=", 2000),
    "scale_out_ok": ("==", True),
}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def meets(value, target):
    if target is None or value is None:
        return ""
    op, bound = target
    ok = {"<=": value <= bound, ">=": value >= bound, "==": value == bound}[op]
    return "ok" if ok else "MISS"


def table(results):
    lines = ["| key | value | target | |", "|---|---|---|---|"]
    for key, target in TARGETS.items():
        value = results.get(key)
        shown = "—" if value is None else value
        goal = "" if target is None else f"{target[0]} {target[1]}"
        lines.append(f"| {key} | {shown} | {goal} | {meets(value, target)} |")
    return "\n".join(lines)


class Suite:
    def __init__(self, environment):
        self.environment = environment
        self.scale = environment.scale
        self.results = {}
        self.details = {}
        self.errors = {}

    def step(self, name, function):
        log(f"{name}…")
        started = time.perf_counter()
        try:
            function()
        except Exception as error:
            self.errors[name] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        log(f"{name}: {time.perf_counter() - started:.0f} s")

    # -- steps ---------------------------------------------------------------------------

    def floor(self):
        from bench import floor

        measured = floor.measure(self.environment)
        self.results["floor_ms"] = measured["floor_ms"]
        self.details["floor"] = measured

    def reads(self):
        import gc

        from bench import server_views

        # The server freezes what it loaded at start (inbox/asgi.py); so does this process
        # before timing requests as the server would serve them.
        gc.collect()
        gc.freeze()
        lists = server_views.list_views(self.dataset)
        self.details["list"] = lists.pop("details")
        self.results.update(lists)
        thread = server_views.long_thread(self.dataset)
        self.details["thread_10k"] = thread.pop("details")
        self.results.update(thread)
        found = server_views.searches(self.dataset)
        self.details["search"] = found.pop("details")
        self.results.update(found)

    def push_and_ingest(self):
        from bench import app, push

        running = app.start(self.environment, "single", web=1, workers=1)
        try:
            listeners = push.listeners_for(self.dataset, self.scale, running.ports)
            sender = push.Sender.for_dataset(self.dataset)

            async def both():
                run, result = await push.push_test(
                    self.environment,
                    running.ports,
                    listeners,
                    sender,
                    self.scale.rate_per_s,
                    self.scale.duration_s,
                    self.scale.drain_s,
                    log,
                )
                self.details["push"] = result
                self.results["push_p50_ms"] = result["p50_ms"]
                self.results["push_p99_ms"] = result["p99_ms"]
                self.results["push_lost"] = result["lost"]
                log(f"push: {json.dumps(result)}")
                ingest = await push.ingest_test(run, self.scale.ingest_messages, self.scale.drain_s)
                self.details["ingest"] = ingest
                self.results["ingest_msgs_per_s"] = ingest["msgs_per_s"]
                log(f"ingest: {json.dumps(ingest)}")
                await run.close()

            asyncio.run(both())
            self.details["push"]["server_errors_in_log"] = running.errors()
        finally:
            running.stop()

    def cost(self):
        from bench import app, cost, push

        running = app.start(self.environment, "cost", web=1, workers=1)
        try:
            listeners = push.listeners_for(self.dataset, self.scale, running.ports)
            sender = push.Sender.for_dataset(self.dataset)
            measured = asyncio.run(
                cost.measure(
                    self.environment, running, listeners, sender, COST_RATE, COST_DURATION, log
                )
            )
        finally:
            running.stop()
        self.details["cost"] = measured
        log(f"cost: {json.dumps(measured)}")

    def sockets(self):
        from bench import app, socket_capacity

        running = app.start(self.environment, "sockets", web=1, workers=0, beat=False)
        try:
            measured = socket_capacity.measure(
                running, self.dataset, self.scale.idle_sockets, self.scale.held_sockets, log
            )
        finally:
            running.stop()
        self.details["sockets"] = measured.pop("details")
        self.results.update(measured)

    def scale_out(self):
        from bench import app, dataset, push

        dataset.reset(self.environment, self.marker)
        running = app.start(self.environment, "scale-out", web=2, workers=2)
        try:
            listeners = push.listeners_for(self.dataset, self.scale, running.ports)
            sender = push.Sender.for_dataset(self.dataset)

            async def measure():
                run, result = await push.push_test(
                    self.environment,
                    running.ports,
                    listeners,
                    sender,
                    self.scale.rate_per_s,
                    self.scale.duration_s,
                    self.scale.drain_s,
                    log,
                )
                await run.close()
                return result

            result = asyncio.run(measure())
            result["server_errors_in_log"] = running.errors()
        finally:
            running.stop()
        self.details["scale_out"] = result
        log(f"scale-out: {json.dumps(result)}")
        self.results["scale_out_ok"] = bool(
            result["lost"] == 0
            and result["p50_ms"] is not None
            and result["p50_ms"] <= 30
            and result["p99_ms"] <= 150
        )

    # -- the whole run -------------------------------------------------------------------

    def run(self, only=None):
        from bench import dataset

        started = time.perf_counter()
        self.dataset = dataset.ensure(self.environment, log)
        self.marker = dataset._marker(self.environment)
        steps = {
            "floor": self.floor,
            "reads": self.reads,
            "push": self.push_and_ingest,
            "cost": self.cost,
            "sockets": self.sockets,
            "scale_out": self.scale_out,
        }
        for name, function in steps.items():
            if only and name not in only:
                continue
            self.step(name, function)
        push_p50, floor_ms = self.results.get("push_p50_ms"), self.results.get("floor_ms")
        if push_p50 is not None and floor_ms:
            self.results["push_p50_over_floor"] = round(push_p50 / floor_ms, 1)
        return time.perf_counter() - started


def _interrupted(*_):
    raise KeyboardInterrupt


def main():
    try:
        environment = config.load()
    except config.NotConfigured as refusal:
        print(refusal.code, file=sys.stderr)
        return 2
    config.apply(environment)
    # Stopped from outside (a CI timeout): unwind, so the started processes are stopped.
    signal.signal(signal.SIGTERM, _interrupted)
    open_files = config.raise_open_files(65536)
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per webhook otherwise
    import redis

    redis.Redis.from_url(environment.redis_url).flushdb()  # the bench's own Redis db

    only = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
    suite = Suite(environment)
    elapsed = suite.run(only)
    scale = environment.scale
    output = {
        **{key: suite.results.get(key) for key in TARGETS},
        "parameters": {
            "scale": scale.name,
            "dataset": scale.dataset_key(),
            "sockets": scale.agent_sockets + scale.supervisor_sockets,
            "agent_sockets": scale.agent_sockets,
            "supervisor_sockets": scale.supervisor_sockets,
            "rate_per_s": scale.rate_per_s,
            "duration_s": scale.duration_s,
            "ingest_messages": scale.ingest_messages,
            "idle_sockets": scale.idle_sockets,
            "held_sockets_tried": scale.held_sockets,
            "git_commit": config.git_commit(),
            "database": environment.database_name,
            "open_files_limit": open_files,
            "cpus": os.cpu_count(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_s": round(elapsed),
            "dataset_built_in_s": suite.dataset.built_in_s,
        },
        "details": suite.details,
        "errors": suite.errors,
    }
    RESULTS.write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n")
    print()
    print(table(output))
    print(f"\nwritten to {RESULTS.relative_to(config.ROOT)}")
    if suite.errors:
        print(f"errors: {json.dumps(suite.errors, indent=2)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
