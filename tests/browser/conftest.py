"""Browser tests: real Chromium (Debian's, never a downloaded one) against a real daphne."""

import time
from pathlib import Path

import pytest

from channels_app.models import AgentSocket
from inbox.demo import load_demo_data

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 860}}


@pytest.fixture(autouse=True)
def orm_beside_playwright(monkeypatch):
    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the
    # tests make to arrange data are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def demo(transactional_db, live_app, browser):
    users, widget = load_demo_data()
    yield users, widget
    # Close every window the test opened and let the server record the disconnects before
    # the database is emptied, or their writes race the flush (a deadlock in PostgreSQL).
    for context in list(browser.contexts):
        context.close()
    deadline = time.monotonic() + 10
    while AgentSocket.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name):
        page.screenshot(path=SCREENSHOTS / f"{name}.png")

    return take


@pytest.fixture
def sign_in(live_app):
    def sign_in_as(page, email, password="switchboard"):  # noqa: S107 - the demo password
        page.goto(f"{live_app.url}/accounts/login/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url(f"{live_app.url}/")
        page.locator("#connection-status[data-state='online']").wait_for()

    return sign_in_as


@pytest.fixture
def console_problems():
    """Collects console errors and CSP violations from the pages given to `watch`."""
    problems = []

    def watch(page):
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "response",
            lambda response: (
                problems.append(f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )

    watch.problems = problems
    return watch


@pytest.fixture
def in_thread():
    """Run a service call off the test thread, where Playwright's event loop lives.

    Services broadcast on commit with async_to_sync, which cannot run in a thread that
    already has a running event loop.
    """
    import threading

    def run(function, *args, **kwargs):
        outcome = {}

        def target():
            try:
                outcome["result"] = function(*args, **kwargs)
            finally:
                from django.db import connection

                connection.close()

        worker = threading.Thread(target=target)
        worker.start()
        worker.join(30)
        return outcome.get("result")

    return run
