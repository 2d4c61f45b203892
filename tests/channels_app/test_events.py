"""The live event log: publish on commit, render once per part and language, catch up."""

import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_app import events
from channels_app.events import Audience, catch_up, frames_for
from channels_app.models import LiveEvent
from channels_app.tasks import prune_live_events
from conversations import services
from conversations.models import AuthorType, Direction, Message, MessageKind
from inbox.models import Role

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

LANGUAGES = ("en", "es", "it")
FRAME_HEADER = re.compile(r"^<!-- live-event (\d+) (\w+) -->\n")


class RecordingLayer:
    """Stands in for the channel layer and remembers every group_send."""

    def __init__(self):
        self.sent = []

    async def group_send(self, group, message):
        self.sent.append((group, message))


@pytest.fixture(autouse=True)
def listeners(listening_agents):
    """Events are rendered only in the languages of agents with a socket open."""
    return listening_agents


@pytest.fixture
def layer(monkeypatch):
    recording = RecordingLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: recording)
    return recording


def header(html):
    """(event id, part) from a frame's leading comment."""
    event_id, part = FRAME_HEADER.match(html).groups()
    return int(event_id), part


def loaded(event):
    return LiveEvent.objects.select_related("conversation__contact", "user").get(pk=event.pk)


def latest_event():
    return loaded(LiveEvent.objects.latest("pk"))


def make_note(user, conversation, body):
    return Message.objects.create(
        conversation=conversation,
        inbox_id=conversation.inbox_id,
        direction=Direction.OUTBOUND,
        kind=MessageKind.NOTE,
        author_type=AuthorType.AGENT,
        author=user,
        body=body,
    )


def agent_audience(user, *inboxes, conversation_id=None):
    return Audience(
        language=user.language,
        inbox_ids=frozenset(inbox.pk for inbox in inboxes),
        user_id=user.pk,
        conversation_id=conversation_id,
    )


def visitor_audience(identity):
    return Audience(language="en", visitor_identity_id=identity.pk)


def parts(frames):
    return [header(html) for html in frames]


# --- publish ----------------------------------------------------------------------------------


def test_publish_writes_the_event_at_once_and_broadcasts_only_on_commit(
    widget_inbox, visitor, layer, listeners, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        message = services.record_inbound_message(widget_inbox, visitor, body="Hi").message
        listeners.view(message.conversation)
        event = LiveEvent.objects.get()
        assert (event.kind, event.message_id, event.conversation_id, event.inbox_id) == (
            "message.created",
            message.pk,
            message.conversation_id,
            widget_inbox.pk,
        )
        assert event.visible_to_visitor is True
    assert layer.sent == []

    for callback in callbacks:
        callback()

    groups = [group for group, _message in layer.sent]
    assert sorted(groups) == sorted(
        [f"inbox-{widget_inbox.pk}.{code}" for code in LANGUAGES]
        + [f"conversation-{message.conversation_id}.{code}" for code in LANGUAGES]
        + [f"visitor-{visitor.pk}"]
    )
    assert all(sent["type"] == "live.event" for _group, sent in layer.sent)
    assert all(header(sent["html"])[0] == event.pk for _group, sent in layer.sent)


def test_a_rolled_back_action_leaves_no_event_and_sends_nothing(
    widget_inbox, visitor, layer, django_capture_on_commit_callbacks
):
    def failing_action():
        with transaction.atomic():
            services.record_inbound_message(widget_inbox, visitor, body="Hi")
            raise RuntimeError("the action failed after publishing")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        failing_action()

    assert callbacks == []
    assert not LiveEvent.objects.exists()
    assert not Message.objects.exists()
    assert layer.sent == []


def test_a_failing_channel_layer_does_not_fail_the_action(
    widget_inbox, visitor, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    class BrokenLayer:
        async def group_send(self, group, message):
            raise ConnectionError("redis went away")

    monkeypatch.setattr(events, "get_channel_layer", BrokenLayer)

    with django_capture_on_commit_callbacks(execute=True):
        services.record_inbound_message(widget_inbox, visitor, body="Hi")

    assert LiveEvent.objects.count() == 1
    assert "clients will catch up" in caplog.text


# --- frames_for -------------------------------------------------------------------------------


def test_a_customer_message_renders_once_per_language_for_agents_and_once_for_the_visitor(
    widget_inbox, visitor, listeners
):
    message = services.record_inbound_message(widget_inbox, visitor, body="Hola!").message
    listeners.view(message.conversation)

    frames = list(frames_for(latest_event()))

    by_part = {}
    for frame in frames:
        by_part.setdefault(header(frame.html)[1], []).append(frame.group)
    assert by_part == {
        "list": [f"inbox-{widget_inbox.pk}.{code}" for code in LANGUAGES],
        "thread": [f"conversation-{message.conversation_id}.{code}" for code in LANGUAGES],
        "visitor": [f"visitor-{visitor.pk}"],
    }
    list_frame = next(f.html for f in frames if header(f.html)[1] == "list")
    assert f'id="conversation-{message.conversation_id}"' in list_frame
    thread_frame = next(f.html for f in frames if header(f.html)[1] == "thread")
    assert f'id="message-{message.pk}"' in thread_frame
    visitor_frame = next(f.html for f in frames if header(f.html)[1] == "visitor")
    assert f'id="widget-message-{message.pk}"' in visitor_frame


def test_rendering_for_more_languages_does_not_read_the_database_more(
    widget_inbox, visitor, listeners, settings
):
    listeners.view(
        services.record_inbound_message(widget_inbox, visitor, body="Hola!").message.conversation
    )

    def queries_to_render():
        event = latest_event()
        with CaptureQueriesContext(connection) as captured:
            frames = list(frames_for(event))
        return len(captured), len(frames)

    settings.LANGUAGES = [("en", "English")]
    one_language = queries_to_render()
    settings.LANGUAGES = [("en", "English"), ("es", "Spanish"), ("it", "Italian")]
    three_languages = queries_to_render()

    assert one_language[1] == 3
    assert three_languages[1] == 7
    assert three_languages[0] == one_language[0]


def test_a_queued_reply_goes_to_agents_only(agent, widget_inbox, customer_writes, listeners):
    conversation = customer_writes(widget_inbox, "Hi").conversation
    listeners.view(conversation)
    services.send_reply(agent, conversation, "Hello! How can I help?")

    event = latest_event()
    frames = list(frames_for(event))

    assert event.visible_to_visitor is False
    assert {header(f.html)[1] for f in frames} == {"list", "thread"}


def test_a_sent_reply_reaches_the_visitor(
    agent, widget_inbox, customer_writes, django_capture_on_commit_callbacks
):
    conversation = customer_writes(widget_inbox, "Hi").conversation
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.send_reply(agent, conversation, "Hello! How can I help?")

    event = loaded(LiveEvent.objects.get(kind="message.updated"))
    frames = list(frames_for(event))

    visitor_frames = [f for f in frames if header(f.html)[1] == "visitor"]
    assert [f.group for f in visitor_frames] == [f"visitor-{conversation.contact_identity_id}"]
    assert "Hello! How can I help?" in visitor_frames[0].html
    assert f'id="widget-message-{reply.pk}"' in visitor_frames[0].html


def test_a_note_never_produces_a_visitor_part(agent, widget_inbox, customer_writes, listeners):
    conversation = customer_writes(widget_inbox, "Hi").conversation
    listeners.view(conversation)
    note = make_note(agent, conversation, "Refund approved, tell her tomorrow")
    # Even an event wrongly marked for the visitor cannot carry a note to them.
    events.publish("message.created", message=note, visitor=True)

    frames = list(frames_for(latest_event()))

    assert {header(f.html)[1] for f in frames} == {"list", "thread"}
    assert not any("Refund approved" in f.html and "visitor" in f.group for f in frames)


def test_an_event_for_agents_only_has_no_visitor_part(
    agent, widget_inbox, customer_writes, listeners
):
    conversation = customer_writes(widget_inbox, "Hi").conversation
    listeners.view(conversation)
    events.publish("conversation.updated", conversation=conversation)

    frames = list(frames_for(latest_event()))

    assert {header(f.html)[1] for f in frames} == {"list", "thread"}
    assert all(not f.group.startswith("visitor-") for f in frames)


# --- catch_up ---------------------------------------------------------------------------------


@pytest.fixture
def seen(widget_inbox, visitor):
    """The event the client applied last: a first customer message."""
    services.record_inbound_message(widget_inbox, visitor, body="First")
    return LiveEvent.objects.latest("pk")


def test_catch_up_returns_the_events_after_the_last_one_for_the_agents_inboxes(
    agent, widget_inbox, other_inbox, visitor, customer_writes, seen
):
    services.record_inbound_message(widget_inbox, visitor, body="Second")
    customer_writes(other_inbox, "Not for Ana")
    services.record_inbound_message(widget_inbox, visitor, body="Third")
    mine = list(LiveEvent.objects.filter(inbox=widget_inbox, pk__gt=seen.pk).order_by("pk"))

    frames, complete = catch_up(agent_audience(agent, widget_inbox), seen.pk)

    assert complete is True
    newer = [h for h in parts(frames) if h[0] > seen.pk]
    assert newer == [(event.pk, "list") for event in mine]
    assert not any("Not for Ana" in html for html in frames)


def test_catch_up_rereads_a_trailing_window_for_late_commits(agent, widget_inbox, visitor, seen):
    # An event older than the window, and one inside it, both before the client's last.
    services.record_inbound_message(widget_inbox, visitor, body="Long ago")
    long_ago = LiveEvent.objects.latest("pk")
    services.record_inbound_message(widget_inbox, visitor, body="Committed late")
    late = LiveEvent.objects.latest("pk")
    services.record_inbound_message(widget_inbox, visitor, body="Applied")
    applied = LiveEvent.objects.latest("pk")
    LiveEvent.objects.filter(pk__in=[seen.pk, long_ago.pk]).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )

    frames, complete = catch_up(agent_audience(agent, widget_inbox), applied.pk)

    assert complete is True
    assert parts(frames) == [(late.pk, "list"), (applied.pk, "list")]


def test_catch_up_says_incomplete_when_too_many_events_are_pending(
    agent, widget_inbox, visitor, seen, settings
):
    settings.LIVE_EVENT_CATCHUP_LIMIT = 3
    for n in range(5):
        services.record_inbound_message(widget_inbox, visitor, body=f"Message {n}")

    frames, complete = catch_up(agent_audience(agent, widget_inbox), seen.pk)

    assert complete is False
    assert len({event_id for event_id, _part in parts(frames)}) == 3


def test_catch_up_from_a_pruned_event_asks_the_client_to_reload(agent, widget_inbox, visitor, seen):
    services.record_inbound_message(widget_inbox, visitor, body="Second")
    pruned_id = seen.pk
    seen.delete()

    assert catch_up(agent_audience(agent, widget_inbox), pruned_id) == ([], False)


def test_catch_up_when_the_client_is_up_to_date_and_the_log_is_empty(agent, widget_inbox):
    assert catch_up(agent_audience(agent, widget_inbox), 0) == ([], True)


def test_catch_up_for_an_open_conversation_sends_only_its_thread_frames(
    agent, widget_inbox, visitor, customer_writes, seen
):
    conversation_id = seen.conversation_id
    services.record_inbound_message(widget_inbox, visitor, body="Second")
    customer_writes(widget_inbox, "Another visitor")
    audience = agent_audience(agent, widget_inbox, conversation_id=conversation_id)

    frames, _complete = catch_up(audience, seen.pk, conversation_id=conversation_id)

    newer = [h for h in parts(frames) if h[0] > seen.pk]
    assert [part for _id, part in newer] == ["thread"]
    assert "Second" in frames[-1]
    assert not any("Another visitor" in html for html in frames)


def test_catch_up_gives_supervisors_every_inbox(
    make_user, widget_inbox, other_inbox, customer_writes, seen
):
    supervisor = make_user(Role.SUPERVISOR)
    customer_writes(other_inbox, "Other brand")

    frames, _complete = catch_up(agent_audience(supervisor, widget_inbox, other_inbox), seen.pk)

    assert any("Other brand" in html for html in frames)


def test_a_visitor_catches_up_only_on_their_own_conversation(
    agent, widget_inbox, visitor, customer_writes, seen, django_capture_on_commit_callbacks
):
    conversation = seen.conversation
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.send_reply(agent, conversation, "Hi Vera!")
    make_note(agent, conversation, "Secret note")
    events.publish("message.created", message=Message.objects.get(body="Secret note"))
    customer_writes(widget_inbox, "Another visitor's message")
    services.record_inbound_message(widget_inbox, visitor, body="Thanks!")

    frames, complete = catch_up(visitor_audience(visitor), seen.pk)

    assert complete is True
    assert {part for _id, part in parts(frames)} == {"visitor"}
    text = "\n".join(frames)
    assert "Hi Vera!" in text
    assert f'id="widget-message-{reply.pk}"' in text
    assert "Thanks!" in text
    assert "Secret note" not in text
    assert "Another visitor" not in text
    queued = LiveEvent.objects.get(kind="message.created", message=reply)
    assert queued.pk not in {event_id for event_id, _part in parts(frames)}


# --- pruning ----------------------------------------------------------------------------------


def test_prune_live_events_deletes_only_old_rows(widget_inbox, visitor, settings):
    for n in range(3):
        services.record_inbound_message(widget_inbox, visitor, body=f"Message {n}")
    old, recent, fresh = LiveEvent.objects.order_by("pk")
    LiveEvent.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - settings.LIVE_EVENT_RETENTION - timedelta(minutes=1)
    )
    LiveEvent.objects.filter(pk=recent.pk).update(
        created_at=timezone.now() - settings.LIVE_EVENT_RETENTION + timedelta(minutes=1)
    )

    assert prune_live_events() == 1

    assert set(LiveEvent.objects.values_list("pk", flat=True)) == {recent.pk, fresh.pk}


def test_a_page_rendered_on_an_empty_log_is_told_to_reload_not_replayed_everything(
    agent, widget_inbox, visitor
):
    # The workspace was opened on an empty log (its last event id is 0) and messages
    # arrived before its socket connected: it reloads its panes (the page has the
    # `#live-resync` target for that) rather than the server replaying the whole log.
    services.record_inbound_message(widget_inbox, visitor, body="Before the socket")

    assert catch_up(agent_audience(agent, widget_inbox), 0) == ([], False)


def test_a_thread_is_rendered_only_in_the_languages_of_those_viewing_it(
    widget_inbox, visitor, listeners
):
    conversation = services.record_inbound_message(
        widget_inbox, visitor, body="Hola"
    ).message.conversation
    parts = lambda: sorted(  # noqa: E731
        (header(f.html)[1], f.group) for f in frames_for(latest_event()) if "visitor" not in f.group
    )
    lists = [("list", f"inbox-{widget_inbox.pk}.{code}") for code in LANGUAGES]

    # No one has the conversation open: only the lists hear of the new message.
    assert parts() == sorted(lists)

    # A Spanish-speaking supervisor opens it: its thread is rendered in Spanish only.
    [spanish] = [listener for listener in listeners if listener.language == "es"]
    listeners[:] = [spanish]
    listeners.view(conversation)
    services.record_inbound_message(widget_inbox, visitor, body="¿Hay alguien?")
    assert parts() == sorted([*lists, ("thread", f"conversation-{conversation.pk}.es")])


def test_languages_no_open_socket_speaks_are_not_rendered(agent, widget_inbox, customer_writes):
    from channels_app.models import AgentSocket

    AgentSocket.objects.exclude(user__language="es").delete()
    customer_writes(widget_inbox, "Hola")

    frames = list(frames_for(latest_event()))

    assert {f.group.rsplit(".", 1)[-1] for f in frames if "visitor" not in f.group} == {"es"}


def test_a_new_message_no_one_has_open_loads_only_its_row(layer, listeners):
    from contacts.services import get_or_create_identity
    from inbox.models import Inbox, InboxKind

    inbox = Inbox.objects.create(name="WhatsApp", kind=InboxKind.WHATSAPP)
    customer, _ = get_or_create_identity(inbox, "34600000001", name="Clara")
    written = services.record_inbound_message(inbox, customer, body="Is my order on its way?")
    message = written.message
    event = latest_event()

    with CaptureQueriesContext(connection) as captured:
        events.broadcast(event)

    # Who listens, the conversation's row (its last message read within it) and its labels:
    # not the message on its own, nor its files.
    tables = [q["sql"].rsplit(" FROM ", 1)[1].split()[0] for q in captured]
    assert tables == [
        '"channels_app_agentsocket"',
        '"conversations_conversation"',
        '"conversations_conversation_labels"',
    ]
    frames = [message["html"] for _group, message in layer.sent]
    assert [header(html)[1] for html in frames] == ["list"] * len(LANGUAGES)
    assert all("Is my order on its way?" in html for html in frames)

    # Once someone has the thread open, the message is loaded (once) for its frame.
    listeners.view(message.conversation)
    services.record_inbound_message(inbox, customer, body="Hello?")
    layer.sent.clear()
    events.broadcast(latest_event())
    thread_frames = [m["html"] for group, m in layer.sent if group.startswith("conversation-")]
    assert len(thread_frames) == len(LANGUAGES)
    assert all("Hello?" in html for html in thread_frames)
