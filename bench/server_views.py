"""Server time of the workspace's reads at full size: the list, a long thread, search.

Each request goes through Django's test client in this process, against the bench
database: the same middleware, view, queries and templates a browser request runs, with
no network and no browser. The requests are the ones the workspace makes with htmx
(a click on a view fetches the list pane, a click on a row the thread pane, the search box
the results into the thread pane). Warm-up requests first; then many timed ones.
"""

import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.dataset import COMMON_WORDS, PHRASES, RARE_WORDS
from bench.push import percentile

LIST_PANE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "list-pane"}
THREAD_PANE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "thread-pane"}


def _client(user_id):
    from inbox.models import User

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(pk=user_id))
    return client


def _time(client, url, headers, runs, warmup):
    for _ in range(warmup):
        assert client.get(url, **headers).status_code == 200, url
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, **headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    with CaptureQueriesContext(connection) as queries:
        client.get(url, **headers)
    return times, len(queries)


def _summary(times, queries):
    return {
        "p50_ms": round(percentile(times, 50), 1),
        "p99_ms": round(percentile(times, 99), 1),
        "queries": queries,
        "runs": len(times),
    }


def busiest_agent(dataset):
    """The agent with the most open conversations assigned: their Mine is the longest."""
    from django.db.models import Count

    from conversations.models import Conversation

    row = (
        Conversation.objects.filter(status="open", assignee__isnull=False)
        .values("assignee")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .first()
    )
    return row["assignee"] if row else dataset.agent_ids[0]


def list_views(dataset, runs=50, warmup=5):
    """Mine (an agent's), All, Unassigned and a label view (a supervisor's)."""
    agent = _client(busiest_agent(dataset))
    supervisor = _client(dataset.supervisor_ids[0])
    cases = {
        "mine": (agent, "/?view=mine"),
        "all": (supervisor, "/?view=all"),
        "unassigned": (supervisor, "/?view=unassigned"),
        "label": (supervisor, f"/?view=label-{dataset.label_ids[0]}"),
    }
    every, details = [], {}
    for name, (client, url) in cases.items():
        times, queries = _time(client, url, LIST_PANE, runs, warmup)
        every.extend(times)
        details[name] = _summary(times, queries)
    # The whole page (a reload) also renders navigation counts over every visible row.
    times, queries = _time(supervisor, "/?view=all", {}, max(10, runs // 5), 3)
    details["whole_page_all"] = _summary(times, queries)
    return {
        "list_p50_ms": round(percentile(every, 50), 1),
        "list_p99_ms": round(percentile(every, 99), 1),
        "list_queries": max(details[name]["queries"] for name in cases),
        "details": details,
    }


def long_thread(dataset, runs=50, warmup=5):
    supervisor = _client(dataset.supervisor_ids[0])
    url = f"/conversations/{dataset.long_thread_id}/"
    times, queries = _time(supervisor, url, THREAD_PANE, runs, warmup)
    summary = _summary(times, queries)
    return {"thread_10k_p50_ms": summary["p50_ms"], "details": summary}


def search_mix(dataset):
    """The fixed mix: 10 rare words, 5 common ones, 3 phrases, 2 contacts' names."""
    return [*RARE_WORDS, *COMMON_WORDS, *PHRASES, *dataset.contact_names]


def searches(dataset, rounds=5):
    from urllib.parse import urlencode

    supervisor = _client(dataset.supervisor_ids[0])
    mix = search_mix(dataset)
    urls = {query: "/search/?" + urlencode({"q": query}) for query in mix}
    for url in urls.values():  # warm-up: one of each
        assert supervisor.get(url, **THREAD_PANE).status_code == 200
    every, per_query = [], {query: [] for query in mix}
    for _ in range(rounds):
        for query, url in urls.items():
            started = time.perf_counter()
            response = supervisor.get(url, **THREAD_PANE)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200
            every.append(elapsed)
            per_query[query].append(elapsed)
    with CaptureQueriesContext(connection) as queries:
        supervisor.get(urls[mix[0]], **THREAD_PANE)
    return {
        "search_p50_ms": round(percentile(every, 50), 1),
        "search_p99_ms": round(percentile(every, 99), 1),
        "details": {
            "queries": len(queries),
            "per_query_p50_ms": {q: round(percentile(t, 50), 1) for q, t in per_query.items()},
        },
    }
