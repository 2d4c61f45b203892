"""Profile the bench's paths in process with pyinstrument, on the bench dataset.

    BENCH_SCALE=small DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/profile_paths.py [path…]

Paths: `apply` (a worker applying inbound WhatsApp deliveries, pushes included), `list`
(the All view's list pane, as a supervisor), `thread` (the 10,000-message thread pane),
`search` (the fixed search mix). Each prints pyinstrument's call tree and writes it to
bench/data/profiles/<path>.txt, with the queries each request ran.
"""

import os
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import config  # noqa: E402

OUT = config.ROOT / "bench" / "data" / "profiles"


def main(paths):
    environment = config.load()
    config.apply(environment)
    # Its own channel-layer prefix: pushes made here must not reach a running bench's sockets.
    os.environ["CHANNEL_LAYER_PREFIX"] = "bench-profile"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    from bench import dataset, push, server_views

    # The dataset as built (`make bench` builds it): no reset here, a bench may be running.
    marker = dataset._marker(environment)
    if marker is None:
        sys.exit("No bench dataset yet: run `make bench` first.")
    data = dataset._dataset_from(marker)
    OUT.mkdir(parents=True, exist_ok=True)
    supervisor = server_views._client(data.supervisor_ids[0])

    def list_pane():
        supervisor.get("/?view=all", **server_views.LIST_PANE)

    def thread_pane():
        supervisor.get(f"/conversations/{data.long_thread_id}/", **server_views.THREAD_PANE)

    def search_mix():
        from urllib.parse import urlencode

        for query in server_views.search_mix(data):
            supervisor.get("/search/?" + urlencode({"q": query}), **server_views.THREAD_PANE)

    sender = push.Sender.for_dataset(data)
    counter = iter(range(2_000_000, 3_000_000))

    def apply_deliveries():
        from inbox.inbound import accept_delivery, apply_inbound_event
        from inbox.models import Inbox

        inboxes = {i.pk: i for i in Inbox.objects.all()}
        for _ in range(20):
            inbox_id, _path, body, _headers = sender.delivery(next(counter), "profmark")
            accepted = accept_delivery(
                inboxes[inbox_id], body=body, content_type="application/json"
            )
            apply_inbound_event(accepted.event.pk)

    cases = {
        "list": (list_pane, 20),
        "thread": (thread_pane, 20),
        "search": (search_mix, 2),
        "apply": (apply_deliveries, 2),
    }
    for name in paths or cases:
        function, repeat = cases[name]
        function()  # warm-up
        with CaptureQueriesContext(connection) as queries:
            function()
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(repeat):
            function()
        profiler.stop()
        text = profiler.output_text(unicode=True, color=False, show_all=False)
        sql = "\n".join(f"{q['time']}s  {q['sql'][:400]}" for q in queries.captured_queries)
        (OUT / f"{name}.txt").write_text(f"{text}\n\n{len(queries)} queries, one call:\n{sql}\n")
        print(text)
    if "apply" in (paths or cases):
        dataset.reset(environment, marker)  # take out the deliveries applied here


if __name__ == "__main__":
    main(sys.argv[1:])
