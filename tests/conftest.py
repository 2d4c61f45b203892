"""Shared fixtures.

Tests marked `integration` or `browser` need PostgreSQL and Redis (DATABASE_URL and
REDIS_URL). Without them they are skipped on a developer's machine, and fail in CI,
where a missing service is an error, never a reason to skip.
"""

import os

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connection

from contacts.services import get_or_create_identity
from conversations import services as conversation_services
from inbox.celery import app as celery_app
from inbox.models import Inbox, InboxKind, Role, User

NEEDS_SERVICES = ("integration", "browser")


def pytest_collection_modifyitems(config, items):
    # Playwright's sync API leaves an event loop running in the test thread, which breaks
    # async tests that come after it: browser tests go last.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that used the live app shows what daphne and the worker logged."""
    outcome = yield
    report = outcome.get_result()
    live = getattr(item, "funcargs", {}).get("live_app")
    if report.when != "call" or not report.failed or live is None:
        return
    for log in sorted(live.logs.glob("*.log")):
        tail = log.read_text(errors="replace")[-6000:]
        report.sections.append((f"live app: {log.name} (last lines)", tail))


def missing_services():
    missing = []
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        missing.append("DATABASE_URL (PostgreSQL)")
    if not os.environ.get("REDIS_URL"):
        missing.append("REDIS_URL (Redis)")
    return missing


def pytest_runtest_setup(item):
    if not any(item.get_closest_marker(name) for name in NEEDS_SERVICES):
        return
    missing = missing_services()
    if not missing:
        return
    reason = f"needs {' and '.join(missing)}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: in CI every test runs against the real services", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def eager_tasks_unless_integration(request):
    """Unit tests run tasks in-process; integration tests use the real worker."""
    eager = request.node.get_closest_marker("integration") is None and (
        request.node.get_closest_marker("browser") is None
    )
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def fresh_fragments():
    """Each test renders its own rows and messages: none reused from an earlier test, whose
    settings (or whose ids, reused on SQLite) may not be this one's."""
    caches["fragments"].clear()


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(role=Role.AGENT, *, inboxes=(), name=None, language="en", **fields):
        n = next(counter)
        user = User.objects.create_user(
            f"{role}{n}@example.test",
            "correct horse battery",
            display_name=name or f"{role.title()} {n}",
            role=role,
            language=language,
            **fields,
        )
        for inbox in inboxes:
            inbox.members.add(user)
        return user

    return make


@pytest.fixture
def widget_inbox(db):
    return Inbox.objects.create(
        name="Website chat",
        kind=InboxKind.WEB_WIDGET,
        provider_secrets={"identity_secret": "host-site-secret"},
    )


@pytest.fixture
def other_inbox(db):
    return Inbox.objects.create(name="Other brand chat", kind=InboxKind.WEB_WIDGET)


@pytest.fixture
def agent(make_user, widget_inbox):
    return make_user(Role.AGENT, inboxes=[widget_inbox], name="Ana Agent")


@pytest.fixture
def customer_writes(db):
    """A visitor of `inbox` writes `body`; returns the stored message."""
    counter = iter(range(1, 10_000))

    def write(inbox, body, *, visitor=None, name=""):
        identity, _ = get_or_create_identity(
            inbox, visitor or f"visitor:test-{next(counter)}", name=name
        )
        return conversation_services.record_inbound_message(inbox, identity, body=body).message

    return write


def database_url_for_tests():
    """The URL of the test database pytest-django created, for server processes."""
    settings = connection.settings_dict
    user = settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


@pytest.fixture(scope="session")
def provider_sandbox():
    """The provider sandbox: WhatsApp, Messenger, Telegram and Twilio over real HTTP."""
    from inbox.sandbox import Sandbox

    # Receipts come a moment after the provider answered the send, as a real delivery
    # takes time; posted in the same millisecond they would race our own bookkeeping.
    sandbox = Sandbox(port=0, receipt_delay=0.3).start()
    yield sandbox
    sandbox.stop()


def sandbox_settings(sandbox):
    """Provider base URLs pointing at the sandbox, and short waits for the fault tests."""
    return {
        "WHATSAPP_GRAPH_URL": f"{sandbox.url}/graph",
        "MESSENGER_GRAPH_URL": f"{sandbox.url}/graph",
        "TELEGRAM_API_URL": f"{sandbox.url}/telegram",
        "TWILIO_API_URL": f"{sandbox.url}/twilio",
        "PROVIDER_READ_TIMEOUT": "3",
        "OUTBOUND_RETRY_BASE_DELAY": "0.2",
        "OUTBOUND_MAX_ATTEMPTS": "3",
    }


@pytest.fixture(scope="session")
def live_app(django_db_setup, tmp_path_factory, provider_sandbox):
    """daphne and a Celery worker on the test database and the real Redis, with every
    provider pointed at the sandbox."""
    from tests.live_app import start_live_app

    app = start_live_app(
        database_url_for_tests(),
        tmp_path_factory.mktemp("live"),
        extra_env=sandbox_settings(provider_sandbox),
    )
    yield app
    app.stop()


@pytest.fixture
def fast_password_hashing(settings):
    """Hash passwords with a fast hasher: unit tests create many users.

    Opt-in (`pytest.mark.usefixtures`), never for tests that share users with a server
    process, which only knows the real hashers.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def visitor(widget_inbox):
    """A website visitor of `widget_inbox` who has not written yet: their identity."""
    identity, _ = get_or_create_identity(widget_inbox, "visitor:fixture", name="Vera Visitor")
    return identity


class Listeners(list):
    """Supervisors with a socket open, one per language."""

    def view(self, conversation):
        """Their sockets follow `conversation`: its thread updates are rendered too."""
        from channels_app.models import AgentSocket

        AgentSocket.objects.filter(user__in=self).update(viewing=conversation)


@pytest.fixture
def listening_agents(make_user):
    """A supervisor with an open socket in every language: events are rendered only in
    the languages of agents who are listening (`.view(conversation)` to follow a thread)."""
    from channels_app.models import AgentSocket
    from inbox.models import Role

    listeners = Listeners()
    for code, _name in django_settings.LANGUAGES:
        listener = make_user(Role.SUPERVISOR, language=code, name=f"Listener {code}")
        AgentSocket.objects.create(user=listener, channel_name=f"listener-{code}")
        listeners.append(listener)
    return listeners


@pytest.fixture
def application(monkeypatch):
    """The ASGI application that websocket specs connect their sockets to."""
    # Importing the ASGI module would otherwise start the embedded periodic-task thread.
    monkeypatch.setenv("SWITCHBOARD_SCHEDULER", "0")
    from inbox.asgi import application

    return application
