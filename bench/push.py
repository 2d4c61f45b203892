"""Push latency, lost updates and ingest rate: signed webhooks in, rendered updates out.

Agent and supervisor sockets are real websocket clients to daphne, signed in with a
Django session each, speaking the protocol static/js/live.js speaks: on connect they
send {"type": "resume", "last_event_id": N} with the latest event id when the page would
have been rendered, track the highest event id they have applied from each frame's
`<!-- live-event ID PART -->` header, and after a gap reconnect with that id to catch up.

A load generator posts WhatsApp deliveries, signed as Meta signs them, at a fixed rate
(open loop: a slow server does not slow the sender) to the inboxes' webhook URLs. Each
message's text starts with a unique mark; a socket that should see it (an agent of that
inbox, or a supervisor) records when the first frame carrying the mark arrives. Latency
is per (message, socket) pair: that moment minus the moment the webhook was sent.
"""

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

import psycopg

from bench.webhook_poster import Poster
from bench.wsclient import Closed, HandshakeFailed, WebSocket
from inbox.sandbox.payloads import whatsapp_message

FRAME = re.compile(r"^<!-- live-event (\d+) (\w+) -->")
MARK = re.compile(r"pushmark(\d+)x")


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- who listens -----------------------------------------------------------------------------


def create_sessions(user_ids):
    """A signed-in Django session per user, as signing in would leave (key per user id)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from inbox.models import User

    keys = {}
    for user in User.objects.filter(pk__in=user_ids):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys[user.pk] = session.session_key
    return keys


@dataclass
class Listener:
    user_id: int
    inbox_id: int | None  # None: a supervisor, who sees every inbox
    session_key: str
    port: int
    ws: WebSocket | None = None
    last_event_id: int = 0
    seen: dict = field(default_factory=dict)  # mark -> (perf_counter, "live" | "catch-up")
    via: str = "live"
    closed_by_server: int = 0
    closing: bool = False
    resyncs: int = 0
    last_resync_at: float | None = None  # perf_counter of the latest resync frame

    def sees(self, inbox_id):
        return self.inbox_id is None or self.inbox_id == inbox_id

    async def connect(self, last_event_id):
        self.ws = await WebSocket.connect(
            "127.0.0.1",
            self.port,
            "/ws/agent/",
            headers=[
                ("Origin", f"http://127.0.0.1:{self.port}"),
                ("Cookie", f"sessionid={self.session_key}"),
            ],
        )
        await self.ws.send(json.dumps({"type": "resume", "last_event_id": last_event_id}))

    async def read_forever(self):
        while True:
            try:
                text = await self.ws.recv()
            except Closed:
                if not self.closing:
                    self.closed_by_server += 1
                return
            now = time.perf_counter()
            header = FRAME.match(text)
            if header:
                self.last_event_id = max(self.last_event_id, int(header[1]))
            elif 'id="live-resync"' in text:
                self.resyncs += 1
                self.last_resync_at = now
            for mark in MARK.findall(text):
                self.seen.setdefault(int(mark), (now, self.via))


def listeners_for(dataset, scale, ports):
    """Agent sockets spread over the inboxes (one per agent) and one per supervisor."""
    agents = dataset.agent_ids[: scale.agent_sockets]
    supervisors = dataset.supervisor_ids[: scale.supervisor_sockets]
    keys = create_sessions([*agents, *supervisors])
    inboxes = dataset.inbox_ids
    listeners = [
        Listener(pk, inboxes[k % len(inboxes)], keys[pk], 0) for k, pk in enumerate(agents)
    ] + [Listener(pk, None, keys[pk], 0) for pk in supervisors]
    for n, listener in enumerate(listeners):
        listener.port = ports[n % len(ports)]
    return listeners


# -- what is sent ----------------------------------------------------------------------------


@dataclass
class Sender:
    """Signed WhatsApp deliveries to the bench inboxes, as Meta would post them."""

    inboxes: list  # (inbox id, public token, config, app secret)
    existing_contacts: int
    run: int

    @classmethod
    def for_dataset(cls, dataset):
        from inbox.models import Inbox

        inboxes = [
            (i.pk, i.public_token, i.provider_config, i.provider_secrets["app_secret"])
            for i in Inbox.objects.filter(pk__in=dataset.inbox_ids).order_by("pk")
        ]
        contacts = dataset.max_ids["contacts_contact"]
        return cls(inboxes, contacts, int(time.time()) % 100000)

    def delivery(self, n, mark="pushmark"):
        """Message n: to inbox n % inboxes; every other one from a customer already known."""
        slot = n % len(self.inboxes)
        inbox_id, token, config, secret = self.inboxes[slot]
        if n % 2 == 0 and self.existing_contacts >= len(self.inboxes):
            # Known customers of this inbox: contact c is on inbox (c - 1) % inboxes.
            per_inbox = self.existing_contacts // len(self.inboxes)
            c = ((n // len(self.inboxes)) * 7919 % per_inbox) * len(self.inboxes) + slot + 1
            wa_id = f"346{c:08d}"
        else:
            wa_id = f"39{self.run:05d}{n:07d}"
        text = f"{mark}{n}x Hola, ¿dónde está mi pedido? Order status please, grazie."
        # Built and signed exactly as WhatsApp sends it (the sandbox's own payloads).
        body, headers = whatsapp_message(
            secret,
            config["phone_number_id"],
            wa_id,
            text,
            name=f"Bench {n}",
            waba_id=config["waba_id"],
            display_phone_number=config["display_phone_number"],
            message_id=f"wamid.{mark}-{self.run}-{n}",
        )
        return inbox_id, f"/webhooks/whatsapp/{token}/", body, headers


# -- the run ---------------------------------------------------------------------------------


def _pending_inbound(database_url):
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM inbox_inboundevent WHERE status = 'pending'"
        ).fetchone()[0]


def _latest_event_id(database_url):
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM channels_app_liveevent").fetchone()[0]


def _stored_marks(database_url):
    """The marks of the bench's messages that were applied (stored as messages)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT substring(body from '^pushmark([0-9]+)x') FROM conversations_message"
            " WHERE body LIKE 'pushmark%%'"
        ).fetchall()
    return {int(row[0]) for row in rows if row[0]}


class PushRun:
    def __init__(self, environment, ports, listeners, sender, log=print):
        self.database_url = environment.database_url
        self.ports = ports
        self.listeners = listeners
        self.sender = sender
        self.log = log
        self.sent = {}  # mark -> (perf_counter, inbox id)
        self.answers = []
        self.readers = []

    async def connect(self):
        latest = await asyncio.to_thread(_latest_event_id, self.database_url)
        failures = 0
        for start in range(0, len(self.listeners), 25):
            batch = self.listeners[start : start + 25]
            results = await asyncio.gather(
                *(listener.connect(latest) for listener in batch), return_exceptions=True
            )
            failures += sum(isinstance(r, Exception) for r in results)
        if failures:
            raise RuntimeError(f"{failures} sockets could not connect")
        self.readers = [asyncio.create_task(lsn.read_forever()) for lsn in self.listeners]
        await asyncio.sleep(1)

    def _posters(self, connections):
        posters = [Poster("127.0.0.1", port, connections) for port in self.ports]
        for poster in posters:
            poster.start()
        return posters

    def _enqueue(self, posters, n, mark="pushmark"):
        inbox_id, path, body, headers = self.sender.delivery(n, mark)
        now = time.perf_counter()
        if mark == "pushmark":
            self.sent[n] = (now, inbox_id)
        posters[n % len(posters)].put(path, body, headers, now)

    async def _finish(self, posters):
        for poster in posters:
            await poster.finish()
            self.answers.extend(poster.answers)

    def expected(self, marks):
        return [
            (mark, listener)
            for mark in marks
            for listener in self.listeners
            if listener.sees(self.sent[mark][1])
        ]

    def received(self, pairs):
        return sum(1 for mark, listener in pairs if mark in listener.seen)

    async def drain(self, marks, timeout, quiet=5):
        pairs = self.expected(marks)
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            got = self.received(pairs)
            if got == len(pairs):
                return True
            if got != last:
                last, last_change = got, time.monotonic()
            elif time.monotonic() - last_change > quiet:
                if await asyncio.to_thread(_pending_inbound, self.database_url) == 0:
                    return False
                last_change = time.monotonic()
            await asyncio.sleep(0.5)
        self.log(f"push: gave up waiting after {timeout} s ({last}/{len(pairs)} pairs)")
        return False

    async def warm_up(self, count):
        posters = self._posters(4)
        for n in range(count):
            self._enqueue(posters, 900_000 + n, mark="warmmark")
            await asyncio.sleep(0.1)
        await self._finish(posters)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if await asyncio.to_thread(_pending_inbound, self.database_url) == 0:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)

    async def offered_load(self, rate, duration, first=0, connections=64):
        """Deliveries on a fixed schedule (open loop): a delivery's clock starts when it is
        due, whether or not a connection is free to send it then."""
        marks = list(range(first, first + rate * duration))
        posters = self._posters(connections)
        start = time.perf_counter()
        for k, mark in enumerate(marks):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self._enqueue(posters, mark)
        sending = time.perf_counter() - start
        await self._finish(posters)
        answered = time.perf_counter() - start
        self.log(
            f"push: {len(marks)} webhooks due in {sending:.1f} s, answered in {answered:.1f} s"
        )
        return marks

    async def burst(self, count, clients, first):
        """Post `count` deliveries as fast as `clients` concurrent connections can."""
        marks = list(range(first, first + count))
        posters = self._posters(max(1, clients // len(self.ports)))
        started = time.perf_counter()
        for mark in marks:
            self._enqueue(posters, mark)
        await self._finish(posters)
        self.burst_posted_s = time.perf_counter() - started
        return marks

    async def catch_up(self, marks):
        """Reconnect every socket that misses a pair, with its last event id (as live.js)."""
        pairs = self.expected(marks)
        missing = {id(listener): listener for mark, listener in pairs if mark not in listener.seen}
        for listener in missing.values():
            listener.via = "catch-up"
            if listener.ws is not None:
                listener.closing = True
                await listener.ws.close()
        tasks = []
        for listener in missing.values():
            try:
                await listener.connect(listener.last_event_id)
            except (HandshakeFailed, OSError):
                continue
            tasks.append(asyncio.create_task(listener.read_forever()))
        for listener in missing.values():
            listener.closing = False
        await asyncio.sleep(5)
        self.readers.extend(tasks)
        return len(missing)

    async def close(self):
        for listener in self.listeners:
            listener.closing = True
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*(lsn.ws.close() for lsn in self.listeners if lsn.ws))

    def latency_summary(self, marks, stored=None):
        pairs = self.expected(marks)
        live = [
            (listener.seen[mark][0] - self.sent[mark][0]) * 1000
            for mark, listener in pairs
            if mark in listener.seen and listener.seen[mark][1] == "live"
        ]
        caught = sum(
            1
            for mark, listener in pairs
            if mark in listener.seen and listener.seen[mark][1] == "catch-up"
        )
        lost = len(pairs) - len(live) - caught
        stored = set(marks) if stored is None else stored
        never = [(mark, listener) for mark, listener in pairs if mark not in listener.seen]
        lost_stored = sum(1 for mark, _listener in never if mark in stored)
        # A server process that fell so far behind that it dropped updates tells each of its
        # sockets to reload what its page shows (a resync): the page then shows the current
        # state, though not each update that was dropped. Lost pairs the page was told of.
        announced = sum(
            1
            for mark, listener in never
            if listener.last_resync_at is not None and listener.last_resync_at >= self.sent[mark][0]
        )
        return {
            "pairs": len(pairs),
            "received_live": len(live),
            "recovered_by_catch_up": caught,
            "lost": lost,
            # Of those, pairs whose message was stored (applied) by the end: an update the
            # app made but never delivered, even on catch-up. The rest were never applied.
            "lost_of_applied": lost_stored,
            "lost_then_resync": announced,
            "p50_ms": _round(percentile(live, 50)),
            "p90_ms": _round(percentile(live, 90)),
            "p99_ms": _round(percentile(live, 99)),
            "max_ms": _round(max(live) if live else None),
        }

    def webhook_summary(self):
        times = [ms for _status, ms in self.answers]
        return {
            "webhooks": len(self.answers),
            "webhook_non_200": sum(1 for status, _ms in self.answers if status != 200),
            "webhook_p50_ms": _round(percentile(times, 50)),
            "webhook_p99_ms": _round(percentile(times, 99)),
        }


def _round(value):
    return None if value is None else round(value, 1)


async def push_test(environment, ports, listeners, sender, rate, duration, drain_s, log=print):
    """The push measurement: connect, warm up, offered load, drain, catch up."""
    run = PushRun(environment, ports, listeners, sender, log)
    await run.connect()
    await run.warm_up(2 * len(sender.inboxes))
    run.answers.clear()
    marks = await run.offered_load(rate, duration)
    complete = await run.drain(marks, drain_s)
    finished = time.perf_counter()
    pending = await asyncio.to_thread(_pending_inbound, run.database_url)
    stored = await asyncio.to_thread(_stored_marks, run.database_url)  # applied when we stopped
    reconnected = 0 if complete else await run.catch_up(marks)
    result = {
        **run.latency_summary(marks, stored),
        **run.webhook_summary(),
        "sockets": len(listeners),
        "sockets_reconnected": reconnected,
        "resync_frames": sum(lsn.resyncs for lsn in listeners),
        "closed_by_server": sum(lsn.closed_by_server for lsn in listeners),
        "offered_rate_per_s": rate,
        "duration_s": duration,
        "last_pair_after_s": round(finished - run.sent[marks[0]][0], 1),
        "drain_limit_s": drain_s,
        "deliveries_not_applied_at_stop": pending,
    }
    return run, result


async def ingest_test(run, count, drain_s, clients=16):
    """Deliveries applied per second end to end: first webhook sent → last one pushed."""
    # Start from an empty queue: what the push test left behind is applied first.
    deadline = time.monotonic() + drain_s
    backlog = await asyncio.to_thread(_pending_inbound, run.database_url)
    while backlog and time.monotonic() < deadline:
        await asyncio.sleep(1)
        backlog = await asyncio.to_thread(_pending_inbound, run.database_url)
    run.answers.clear()
    for listener in run.listeners:
        listener.via = "live"
    marks = await run.burst(count, clients, first=1_000_000)
    await run.drain(marks, timeout=drain_s)
    pairs = run.expected(marks)
    arrived = {}
    for mark, listener in pairs:
        if mark in listener.seen:
            arrived[mark] = max(arrived.get(mark, 0), listener.seen[mark][0])
    complete = [m for m in marks if m in arrived]
    first_sent = min(run.sent[m][0] for m in marks)
    span = (max(arrived.values()) - first_sent) if arrived else None
    return {
        "messages": count,
        "clients": clients,
        "backlog_at_start": backlog,
        "pushed_to_every_socket": len(complete),
        "span_s": _round(span),
        "msgs_per_s": _round(len(complete) / span) if span else None,
        **run.webhook_summary(),
        "webhook_stored_per_s": _round(count / run.burst_posted_s),
    }
