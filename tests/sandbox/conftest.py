"""Fixtures for the sandbox specs: a running sandbox and a receiver standing in for our
webhook endpoint (a real local HTTP server recording what it is posted)."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inbox.sandbox import Sandbox


class Receiver:
    """Records every POST it gets; answers `status` (200 unless a test changes it)."""

    def __init__(self):
        self.posts = []
        self.status = 200
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._changed:
                    receiver.posts.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    receiver._changed.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count, timeout=5):
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.posts) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"received {len(self.posts)} posts, expected {count}"
                self._changed.wait(left)
            return list(self.posts)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()
