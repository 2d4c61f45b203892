"""`python -m tests.reliability.control`: Django on a fault test's own stack, run on request.

Reads one JSON line per call ({"op": name, "kwargs": {...}}) and answers one JSON line
({"result": ...} or {"error": traceback}). Runs the functions of tests/reliability/ops.py
with the stack's settings (its database, its Redis, its queue), so services and sweepers
run exactly as in the web and worker processes, with the clock the test gives them.
"""

import json
import os
import sys
import traceback


def main():
    # Answers go to the real stdout; anything else printed goes to stderr (the log).
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inbox.settings")
    import django
    from django.conf import settings

    # A fresh connection per call (no pool): the database may be restarted under us.
    settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
    django.setup()
    from django.db import connections

    from tests.reliability import ops

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            result = getattr(ops, request["op"])(**request.get("kwargs", {}))
            answer = {"result": result}
        except Exception:
            answer = {"error": traceback.format_exc()}
        finally:
            connections.close_all()
        answers.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
