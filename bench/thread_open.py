"""Server time to open a conversation with 10,000 messages, against one with 10.

Builds both threads in the configured database (bulk insert; reused when present),
then renders the workspace with the thread open through Django's test client, the
same view and queries a browser request runs, and reports percentiles and queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/switchboard \\
        .venv/bin/python bench/thread_open.py --runs 200
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")

import django  # noqa: E402

django.setup()

from datetime import timedelta  # noqa: E402

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from contacts.services import get_or_create_identity  # noqa: E402
from conversations.models import AuthorType, Conversation, Direction, Message  # noqa: E402
from inbox.models import Inbox, InboxKind, Role, User  # noqa: E402

WORDS = [
    "order",
    "coffee",
    "grinder",
    "pedido",
    "envío",
    "café",
    "ordine",
    "spedizione",
    "consegna",
    "thanks",
    "gracias",
    "grazie",
]


def thread_with(inbox, size):
    identity, _ = get_or_create_identity(inbox, f"bench:thread-{size}", name=f"Bench {size}")
    conversation = Conversation.objects.filter(contact_identity=identity).first()
    if conversation and conversation.messages.count() >= size:
        return conversation
    now = timezone.now()
    conversation = conversation or Conversation.objects.create(
        inbox=inbox, channel=inbox.kind, contact=identity.contact, contact_identity=identity
    )
    Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                inbox=inbox,
                direction=Direction.INBOUND if n % 2 else Direction.OUTBOUND,
                author_type=AuthorType.CONTACT if n % 2 else AuthorType.AGENT,
                body=" ".join(WORDS[(n + k) % len(WORDS)] for k in range(12)),
                created_at=now - timedelta(minutes=size - n),
                status="" if n % 2 else "read",
            )
            for n in range(size)
        ],
        batch_size=2000,
    )
    conversation.last_message = conversation.messages.order_by("-pk").first()
    conversation.save(update_fields=["last_message"])
    return conversation


# Clicking a row fetches only the thread pane; a reload renders the whole workspace.
THREAD_PANE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "thread-pane"}


def measure(client, conversation, runs, headers):
    url = f"/conversations/{conversation.pk}/"
    for _ in range(10):
        client.get(url, **headers)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, **headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url, **headers)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
        "queries": len(queries),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    inbox, _ = Inbox.objects.get_or_create(name="Bench threads", kind=InboxKind.WEB_WIDGET)
    user = User.objects.filter(email="bench-supervisor@example.com").first() or (
        User.objects.create_user(
            "bench-supervisor@example.com", None, display_name="Bench", role=Role.SUPERVISOR
        )
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    small, large = thread_with(inbox, 10), thread_with(inbox, 10_000)
    result = {"database": connection.vendor}
    for name, headers in (("open_thread_pane", THREAD_PANE), ("reload_whole_page", {})):
        result[name] = {
            "10_messages": measure(client, small, args.runs, headers),
            "10000_messages": measure(client, large, args.runs, headers),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
