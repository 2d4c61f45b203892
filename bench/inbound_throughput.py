"""Inbound messages applied per second by the running workers, end to end.

Posts N distinct, correctly signed WhatsApp deliveries to a running Switchboard's demo
WhatsApp inbox (as the provider would: one customer message each, from many customers),
then reads from the database when each delivery was stored and when the worker applied
it. Reports the webhook's store rate and the workers' apply rate (deliveries applied per
second between the first and the last one applied), plus the webhook's answer times.

Needs the app on PostgreSQL + Redis (`make run` with DATABASE_URL and REDIS_URL set, one
worker as the Procfile starts it) and the same DATABASE_URL in this process:

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/inbound_throughput.py --messages 2000
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")

import django  # noqa: E402

django.setup()

from django.db.models import Max, Min  # noqa: E402

from bench.push import percentile  # noqa: E402
from inbox.models import InboundEvent, InboundEventStatus, Inbox  # noqa: E402
from inbox.sandbox.payloads import whatsapp_message  # noqa: E402


def delivery(inbox, number, run):
    """One customer message, built and signed exactly as WhatsApp sends it."""
    config = inbox.provider_config
    return whatsapp_message(
        inbox.provider_secrets["app_secret"],
        config["phone_number_id"],
        f"3460{run % 1000:03d}{number:05d}",
        f"Hola, pedido {number}",
        name=f"Bench {number}",
        waba_id=config["waba_id"],
        display_phone_number=config.get("display_phone_number", ""),
        message_id=f"wamid.bench-{run}-{number}",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent senders")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    inbox = Inbox.objects.get(kind="whatsapp", name="WhatsApp")
    url = f"{args.url}/webhooks/whatsapp/{inbox.public_token}/"
    run = int(time.time())
    bodies = [delivery(inbox, n, run) for n in range(args.messages)]
    answers = []

    def post(item):
        body, headers = item
        started = time.perf_counter()
        response = client.post(url, content=body, headers=headers)
        answers.append((response.status_code, (time.perf_counter() - started) * 1000))

    since = InboundEvent.objects.aggregate(last=Max("pk"))["last"] or 0
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(args.clients) as pool:
        posting = time.perf_counter()
        list(pool.map(post, bodies))
        posted = time.perf_counter() - posting

    events = InboundEvent.objects.filter(inbox=inbox, pk__gt=since)
    deadline = time.monotonic() + args.timeout
    while events.exclude(status=InboundEventStatus.PROCESSED).exists():
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for the worker")
        time.sleep(0.5)
    span = events.aggregate(
        first_stored=Min("received_at"),
        first=Min("processed_at"),
        last=Max("processed_at"),
    )
    applying = (span["last"] - span["first"]).total_seconds()
    end_to_end = (span["last"] - span["first_stored"]).total_seconds()
    times = [ms for _status, ms in answers]
    result = {
        "messages": args.messages,
        "clients": args.clients,
        "non_200": sum(1 for status, _ms in answers if status != 200),
        "webhook_stored_per_s": round(args.messages / posted, 1),
        "webhook_answer_p50_ms": round(percentile(times, 50), 1),
        "webhook_answer_p99_ms": round(percentile(times, 99), 1),
        "applied_per_s": round(args.messages / applying, 1) if applying else None,
        "end_to_end_per_s": round(args.messages / end_to_end, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
