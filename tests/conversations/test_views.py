"""The agent workspace over HTTP: access, htmx partials, replies, escaping, query counts."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.events import frames_for
from channels_app.models import LiveEvent
from contacts.models import Contact, ContactIdentity
from contacts.services import add_contact_label
from conversations import services
from conversations.models import (
    Activity,
    AuthorType,
    Conversation,
    Direction,
    Label,
    Message,
    Status,
)
from inbox.models import Role, Team

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

HTMX = {"HX-Request": "true"}
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"

# Pinned query counts: the same for 5 rows and for 200 (see the tests below).
WORKSPACE_QUERIES = 16
LIST_PAGE_QUERIES = 7
# Switching views: 6 reads, and the session remembering the view (savepoint, update, release).
LIST_PANE_QUERIES = 9
# The thread includes the composer, which asks whether the customer opted out (one query);
# its header (its labels and every label) and its contact panel share one read of the labels.
THREAD_QUERIES = 27


@pytest.fixture
def conversation(widget_inbox, customer_writes):
    return customer_writes(widget_inbox, "Is the Guji in stock?", name="Emma Clarke").conversation


def bulk_conversations(inbox, count, *, assignee=None, start=None):
    """`count` open conversations with one customer message each, in a handful of queries."""
    start = start or timezone.now() - timedelta(days=1)
    contacts = Contact.objects.bulk_create([Contact(name=f"Customer {n}") for n in range(count)])
    identities = ContactIdentity.objects.bulk_create(
        [
            ContactIdentity(contact=contact, inbox=inbox, external_id=f"visitor:bulk-{contact.pk}")
            for contact in contacts
        ]
    )
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                inbox=inbox,
                channel=inbox.kind,
                contact=identity.contact,
                contact_identity=identity,
                status=Status.OPEN,
                assignee=assignee,
                last_message_at=start + timedelta(seconds=n),
                waiting_since=start + timedelta(seconds=n),
            )
            for n, identity in enumerate(identities)
        ]
    )
    messages = Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                inbox=inbox,
                direction=Direction.INBOUND,
                author_type=AuthorType.CONTACT,
                body=f"Question number {n}",
                created_at=conversation.last_message_at,
            )
            for n, conversation in enumerate(conversations)
        ]
    )
    for conversation, message in zip(conversations, messages, strict=True):
        conversation.last_message = message
    Conversation.objects.bulk_update(conversations, ["last_message"])
    return conversations


def bulk_messages(conversation, agent, count):
    start = timezone.now() - timedelta(hours=1)
    return Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                inbox_id=conversation.inbox_id,
                direction=Direction.INBOUND if n % 2 else Direction.OUTBOUND,
                author_type=AuthorType.CONTACT if n % 2 else AuthorType.AGENT,
                author=None if n % 2 else agent,
                status="" if n % 2 else "read",
                body=f"Line {n}",
                created_at=start + timedelta(seconds=n),
            )
            for n in range(count)
        ]
    )


def row_ids(response):
    return [int(pk) for pk in re.findall(r'id="conversation-(\d+)"', response.content.decode())]


def load_more_url(response):
    found = re.search(
        r'<li class="list-more">\s*<button[^>]*hx-get="([^"]+)"', response.content.decode()
    )
    return html.unescape(found.group(1)) if found else None


# --- Access -----------------------------------------------------------------------------------

OBJECT_URLS = [
    ("get", "conversations:detail", {}),
    ("get", "conversations:older_messages", {"before": "1"}),
    ("post", "conversations:reply", {"body": "Hello"}),
    ("post", "conversations:assign", {"assignee": ""}),
    ("post", "conversations:status", {"status": "resolved"}),
    ("post", "conversations:priority", {"priority": "4"}),
    ("post", "conversations:team", {"team": ""}),
    ("post", "conversations:labels", {"label": "0"}),
]


@pytest.mark.parametrize(
    ("method", "name", "kwargs"),
    [
        ("get", "conversations:inbox", {}),
        ("get", "conversations:list_page", {}),
    ]
    + [(method, name, {"pk": 1}) for method, name, _data in OBJECT_URLS],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, db, method, name, kwargs):
    url = reverse(name, kwargs=kwargs)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))
    assert f"next={url}" in response.url.replace("%2F", "/")


@pytest.mark.parametrize(("method", "name", "data"), OBJECT_URLS)
def test_agent_cannot_reach_a_conversation_of_another_inbox(
    agent_client, theirs, method, name, data
):
    messages_before = Message.objects.count()
    events_before = LiveEvent.objects.count()

    response = getattr(agent_client, method)(reverse(name, args=[theirs.pk]), data)

    assert response.status_code == 404
    assert Message.objects.count() == messages_before
    assert LiveEvent.objects.count() == events_before
    assert not Activity.objects.filter(conversation=theirs).exists()
    unchanged = Conversation.objects.get(pk=theirs.pk)
    assert (unchanged.status, unchanged.priority, unchanged.assignee_id) == (
        Status.OPEN,
        theirs.priority,
        None,
    )


@pytest.mark.parametrize(("method", "name", "data"), OBJECT_URLS)
def test_a_missing_conversation_is_the_same_404(agent_client, db, method, name, data):
    response = getattr(agent_client, method)(reverse(name, args=[987654]), data)

    assert response.status_code == 404


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR, Role.ADMIN])
def test_the_workspace_renders_for_every_role(client, make_user, widget_inbox, conversation, role):
    client.force_login(make_user(role, inboxes=[widget_inbox]))

    response = client.get(reverse("conversations:inbox"), {"view": "all"})

    assert response.status_code == 200
    assert b'id="list-pane"' in response.content
    assert f'id="conversation-{conversation.pk}"'.encode() in response.content


def test_supervisor_opens_a_conversation_of_any_inbox(client, make_user, theirs):
    client.force_login(make_user(Role.SUPERVISOR))

    response = client.get(reverse("conversations:detail", args=[theirs.pk]))

    assert response.status_code == 200
    assert b"Hello, other brand" in response.content


def test_agent_list_leaves_out_other_inboxes(agent_client, conversation, theirs):
    response = agent_client.get(reverse("conversations:inbox"), {"view": "all"})

    assert row_ids(response) == [conversation.pk]
    assert b"Hello, other brand" not in response.content


# --- htmx partials ----------------------------------------------------------------------------


def test_opening_a_conversation_with_htmx_renders_only_the_thread(agent_client, conversation):
    response = agent_client.get(
        reverse("conversations:detail", args=[conversation.pk]),
        headers={**HTMX, "HX-Target": "thread-pane"},
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content
    assert 'id="thread"' in content
    assert 'id="composer"' in content
    assert "Is the Guji in stock?" in content
    assert 'id="list-pane"' not in content


def test_switching_views_with_htmx_renders_only_the_list(agent_client, conversation):
    response = agent_client.get(
        reverse("conversations:inbox"),
        {"view": "all"},
        headers={**HTMX, "HX-Target": "list-pane"},
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content
    assert 'id="conversation-list"' in content
    assert f'id="conversation-{conversation.pk}"' in content
    assert 'id="thread"' not in content


def test_the_full_page_has_all_three_panes(agent_client, conversation):
    response = agent_client.get(reverse("conversations:detail", args=[conversation.pk]))

    content = response.content.decode()
    assert content.startswith("<!doctype html>")
    for pane in ('id="nav-views"', 'id="list-pane"', 'id="thread-pane"', 'id="thread"'):
        assert pane in content


# --- Replies ----------------------------------------------------------------------------------


def test_reply_is_saved_and_answered_with_the_message_and_a_fresh_composer(
    agent_client, agent, conversation
):
    response = agent_client.post(
        reverse("conversations:reply", args=[conversation.pk]),
        {"body": "Yes, 1 kg bags are in stock."},
        headers=HTMX,
    )

    assert response.status_code == 200
    message = Message.objects.get(direction=Direction.OUTBOUND)
    assert (message.body, message.author, message.conversation) == (
        "Yes, 1 kg bags are in stock.",
        agent,
        conversation,
    )
    content = response.content.decode()
    assert f'id="message-{message.pk}"' in content
    assert "Yes, 1 kg bags are in stock." in content
    composer = re.search(r'<textarea id="reply-body"[^>]*>(.*?)</textarea>', content, re.S)
    assert composer is not None
    assert composer.group(1) == ""
    assert 'role="alert"' not in content.split('id="composer"')[1].split("</form>")[0]


def test_a_rendered_message_carries_the_version_of_its_state(agent_client, conversation):
    # The page keeps the newest copy of a message whichever road brings it (live.js).
    agent_client.post(
        reverse("conversations:reply", args=[conversation.pk]), {"body": "On its way"}
    )
    message = Message.objects.get(direction=Direction.OUTBOUND)

    content = agent_client.get(reverse("conversations:detail", args=[conversation.pk])).content
    version = re.search(rf'id="message-{message.pk}"[^>]*data-version="([^"]*)"', content.decode())

    assert version is not None
    assert version.group(1) == f"{message.status_changed_at.timestamp():.6f}"


def test_an_empty_reply_is_refused_with_422_and_nothing_saved(agent_client, conversation):
    response = agent_client.post(
        reverse("conversations:reply", args=[conversation.pk]), {"body": "   "}, headers=HTMX
    )

    assert response.status_code == 422
    assert "Write a message before sending." in response.content.decode()
    assert b'id="composer"' in response.content
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_a_refused_reply_keeps_what_the_agent_wrote(agent_client, conversation, settings):
    too_long = "word " * (settings.REPLY_MAX_LENGTH // 5 + 1)

    response = agent_client.post(
        reverse("conversations:reply", args=[conversation.pk]), {"body": too_long}
    )

    assert response.status_code == 422
    assert "This message is too long" in response.content.decode()
    assert too_long.strip() in response.content.decode()
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_reply_needs_post(agent_client, conversation):
    response = agent_client.get(reverse("conversations:reply", args=[conversation.pk]))

    assert response.status_code == 405


# --- Customer text is untrusted ---------------------------------------------------------------


@pytest.fixture
def hostile(widget_inbox, customer_writes):
    return customer_writes(widget_inbox, f"{SCRIPT} {IMG}", name=f"{IMG}Mallory")


def assert_escaped(content):
    assert SCRIPT not in content
    assert IMG not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;img src=x onerror=alert(1)&gt;" in content


def test_customer_markup_is_escaped_in_the_list(agent_client, hostile):
    response = agent_client.get(reverse("conversations:inbox"), {"view": "all"})

    assert_escaped(response.content.decode())


def test_customer_markup_is_escaped_in_the_thread(agent_client, hostile):
    response = agent_client.get(reverse("conversations:detail", args=[hostile.conversation_id]))

    assert_escaped(response.content.decode())


def test_customer_markup_is_escaped_in_pushed_fragments(hostile, listening_agents):
    listening_agents.view(hostile.conversation)
    event = LiveEvent.objects.select_related("conversation__contact").get(message=hostile)

    frames = list(frames_for(event))

    assert {frame.html.split(" ")[3] for frame in frames} == {"list", "thread", "visitor"}
    for frame in frames:
        assert SCRIPT not in frame.html
        assert IMG not in frame.html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in frame.html


# --- Query counts -----------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [5, 200])
def test_the_workspace_page_runs_a_fixed_number_of_queries(
    agent_client, widget_inbox, rows, django_assert_max_num_queries
):
    bulk_conversations(widget_inbox, rows)

    with django_assert_max_num_queries(WORKSPACE_QUERIES):
        response = agent_client.get(reverse("conversations:inbox"), {"view": "all"})

    assert len(row_ids(response)) == min(rows, 50)


@pytest.mark.parametrize("rows", [5, 200])
def test_the_list_page_runs_a_fixed_number_of_queries(
    agent_client, widget_inbox, rows, django_assert_max_num_queries
):
    bulk_conversations(widget_inbox, rows)

    with django_assert_max_num_queries(LIST_PAGE_QUERIES):
        response = agent_client.get(reverse("conversations:list_page"), {"view": "all"})

    assert len(row_ids(response)) == min(rows, 50)


@pytest.mark.parametrize("rows", [5, 200])
def test_switching_views_runs_a_fixed_number_of_queries(
    agent_client, widget_inbox, rows, django_assert_max_num_queries
):
    bulk_conversations(widget_inbox, rows)

    with django_assert_max_num_queries(LIST_PANE_QUERIES):
        response = agent_client.get(
            reverse("conversations:inbox"),
            {"view": "all"},
            headers={**HTMX, "HX-Target": "list-pane"},
        )

    assert len(row_ids(response)) == min(rows, 50)


@pytest.mark.parametrize("count", [5, 200])
def test_a_thread_runs_a_fixed_number_of_queries(
    agent_client, agent, conversation, count, django_assert_max_num_queries
):
    bulk_messages(conversation, agent, count)
    services.add_note(agent, conversation, "Checking with the warehouse")
    label = Label.objects.create(name="stock")
    services.add_label(agent, conversation, label)
    for n in range(count // 20):
        services.set_priority(agent, conversation, n % 4 + 1)
        add_contact_label(agent, conversation.contact, Label.objects.create(name=f"tier-{n}"))

    with django_assert_max_num_queries(THREAD_QUERIES):
        response = agent_client.get(reverse("conversations:detail", args=[conversation.pk]))

    assert response.content.decode().count('class="message ') == min(count + 2, 50)


# --- Views and pagination ---------------------------------------------------------------------


@pytest.fixture
def three_kinds(agent, make_user, widget_inbox):
    colleague = make_user(Role.AGENT, inboxes=[widget_inbox])
    return {
        "mine": bulk_conversations(widget_inbox, 2, assignee=agent),
        "colleague": bulk_conversations(widget_inbox, 2, assignee=colleague),
        "unassigned": bulk_conversations(widget_inbox, 2),
    }


@pytest.mark.parametrize(
    ("view", "kinds"),
    [
        ("mine", ["mine"]),
        ("unassigned", ["unassigned"]),
        ("all", ["mine", "colleague", "unassigned"]),
    ],
)
def test_list_views_show_the_right_conversations(agent_client, three_kinds, view, kinds):
    response = agent_client.get(reverse("conversations:inbox"), {"view": view})

    expected = {c.pk for kind in kinds for c in three_kinds[kind]}
    assert set(row_ids(response)) == expected


def test_resolved_conversations_stay_out_of_the_open_list(agent_client, widget_inbox):
    resolved, still_open = bulk_conversations(widget_inbox, 2)
    Conversation.objects.filter(pk=resolved.pk).update(status=Status.RESOLVED)

    response = agent_client.get(reverse("conversations:inbox"), {"view": "all"})

    assert row_ids(response) == [still_open.pk]


def test_the_list_is_newest_first(agent_client, widget_inbox):
    older, newer = bulk_conversations(widget_inbox, 2)

    response = agent_client.get(reverse("conversations:inbox"), {"view": "all"})

    assert row_ids(response) == [newer.pk, older.pk]


def test_load_more_returns_the_next_page_without_overlap(agent_client, widget_inbox):
    conversations = bulk_conversations(widget_inbox, 120)

    first = agent_client.get(reverse("conversations:inbox"), {"view": "all"})
    second = agent_client.get(load_more_url(first))
    third = agent_client.get(load_more_url(second))

    pages = [row_ids(first), row_ids(second), row_ids(third)]
    assert [len(page) for page in pages] == [50, 50, 20]
    seen = [pk for page in pages for pk in page]
    assert len(set(seen)) == len(seen) == 120
    assert seen == [c.pk for c in sorted(conversations, key=lambda c: c.last_message_at)][::-1]
    assert load_more_url(third) is None


def test_load_more_with_identical_timestamps_neither_repeats_nor_skips(agent_client, widget_inbox):
    conversations = bulk_conversations(widget_inbox, 70)
    Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(
        last_message_at=timezone.now()
    )

    first = agent_client.get(reverse("conversations:inbox"), {"view": "all"})
    second = agent_client.get(load_more_url(first))

    seen = row_ids(first) + row_ids(second)
    assert sorted(seen) == sorted(c.pk for c in conversations)
    assert seen == sorted(seen, reverse=True)


def test_older_messages_load_before_the_oldest_shown(agent_client, agent, conversation):
    lines = bulk_messages(conversation, agent, 80)
    page = agent_client.get(reverse("conversations:detail", args=[conversation.pk]))
    shown = [int(pk) for pk in re.findall(r'id="message-(\d+)"', page.content.decode())]

    older = agent_client.get(
        reverse("conversations:older_messages", args=[conversation.pk]), {"before": min(shown)}
    )

    earlier = [int(pk) for pk in re.findall(r'id="message-(\d+)"', older.content.decode())]
    assert earlier
    assert max(earlier) < min(shown)
    assert not set(earlier) & set(shown)
    everything = {m.pk for m in lines} | {conversation.last_message_id}
    assert set(earlier) | set(shown) <= everything


def test_older_messages_needs_a_message_id(agent_client, conversation):
    response = agent_client.get(
        reverse("conversations:older_messages", args=[conversation.pk]), {"before": "abc"}
    )

    assert response.status_code == 400


def test_a_team_view_shows_only_that_teams_conversations(agent_client, agent, widget_inbox):
    team = Team.objects.create(name="Billing")
    in_team, elsewhere = bulk_conversations(widget_inbox, 2)
    services.assign_team(agent, in_team, team)

    response = agent_client.get(reverse("conversations:inbox"), {"view": f"team-{team.pk}"})

    assert row_ids(response) == [in_team.pk]
    assert elsewhere.pk not in row_ids(response)


def test_an_inbox_view_of_another_inbox_falls_back_to_mine(
    agent_client, agent, widget_inbox, other_inbox
):
    bulk_conversations(other_inbox, 1)
    mine = bulk_conversations(widget_inbox, 1, assignee=agent)

    response = agent_client.get(reverse("conversations:inbox"), {"view": f"inbox-{other_inbox.pk}"})

    assert response.status_code == 200
    assert row_ids(response) == [mine[0].pk]


def test_the_workspace_has_the_target_a_resync_replaces(agent_client, conversation):
    # When a socket is too far behind, the server swaps this element: without it the
    # page would never learn that it must reload its panes.
    response = agent_client.get("/")

    assert b'id="live-resync"' in response.content


def test_each_row_shows_the_icon_of_its_channel(agent_client, conversation):
    response = agent_client.get("/?view=all")

    assert b"channel-icon-web_widget" in response.content
