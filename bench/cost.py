"""What one delivery costs: CPU time per process, at a load the machine carries easily.

Push latency and ingest are set by capacity: on two cores, deliveries per second can be
no more than 2,000 ms divided by the CPU milliseconds one delivery takes across every
process (daphne, the worker, PostgreSQL, Redis, the load generator). At saturation the
latency figures swing by seconds from run to run; CPU per delivery does not, so this is
the figure to compare a change by.

The same sockets and signed deliveries as the push test, at `rate` a second (well below
capacity) for `duration` seconds after a warm-up; every process's CPU time is read from
/proc before and after, once every pair has arrived. Also the push latency at that load,
which is what an unsaturated server gives.
"""

import os
import time
from pathlib import Path

from bench import push

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _cpu_ms(pid):
    """utime + stime of one process, in ms (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * TICK_MS


def _children(pid):
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def _pids_named(name):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def _snapshot(running):
    """CPU ms by role. PostgreSQL backends come and go: those that ended between two
    snapshots are not counted, so the pool's long-lived connections must carry the load
    (they do: the app keeps its connections)."""
    web = sum(_cpu_ms(pid) for pid in running.web_pids)
    main = pool = 0.0
    for key, process in running.processes.items():
        if key.startswith("worker"):
            main += _cpu_ms(process.pid)
            pool += sum(_cpu_ms(child) for child in _children(process.pid))
    return {
        "daphne": web,
        # The worker's main process takes tasks off Redis and hands them to its pool's
        # processes, which run them.
        "worker_main": main,
        "worker_pool": pool,
        "postgres": {pid: _cpu_ms(pid) for pid in _pids_named("postgres")},
        "redis": sum(_cpu_ms(pid) for pid in _pids_named("redis-server")),
        "load_generator": _cpu_ms(os.getpid()),
    }


def _difference(before, after):
    postgres = sum(ms - before["postgres"].get(pid, 0.0) for pid, ms in after["postgres"].items())
    return {
        key: (postgres if key == "postgres" else after[key] - before[key])
        for key in ("daphne", "worker_main", "worker_pool", "postgres", "redis", "load_generator")
    }


async def measure(environment, running, listeners, sender, rate, duration, log=print):
    run = push.PushRun(environment, running.ports, listeners, sender, log)
    await run.connect()
    await run.warm_up(2 * len(sender.inboxes))
    run.answers.clear()
    before, started = _snapshot(running), time.perf_counter()
    marks = await run.offered_load(rate, duration, first=2_000_000, connections=8)
    complete = await run.drain(marks, timeout=120)
    after, elapsed = _snapshot(running), time.perf_counter() - started
    await run.close()
    spent = _difference(before, after)
    per_delivery = {key: round(ms / len(marks), 2) for key, ms in spent.items()}
    server = sum(v for k, v in per_delivery.items() if k != "load_generator")
    latency = run.latency_summary(marks)
    return {
        "deliveries": len(marks),
        "rate_per_s": rate,
        "all_pairs_arrived": complete,
        "elapsed_s": round(elapsed, 1),
        "cpu_ms_per_delivery": per_delivery,
        "server_cpu_ms_per_delivery": round(server, 2),
        # What two cores could apply a second if nothing but the server spent CPU.
        "capacity_per_s_on_2_cores": round(2000 / server, 1) if server else None,
        "push_p50_ms": latency["p50_ms"],
        "push_p99_ms": latency["p99_ms"],
        **run.webhook_summary(),
    }
