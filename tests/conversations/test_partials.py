"""The hot partials (list rows, thread messages) print what they are meant to, however they
are made cheap: icons, choice labels, message attributes, identifiers, agent menus."""

from datetime import timedelta
from unittest import mock

import pytest
from django.template import engines
from django.template.loader import render_to_string
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation

from contacts.services import update_contact_details
from conversations import services
from conversations.fragments import (
    ROW_COLUMNS,
    conversation_rows,
    load_conversation,
    load_message,
    message_html,
    row_of,
    row_shown,
    row_values,
)
from conversations.models import Conversation, DeliveryStatus, Label, Message, Priority
from inbox.models import InboxKind, Role

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def render(source, **context):
    return engines["django"].from_string("{% load icons %}" + source).render(context)


@pytest.mark.parametrize("status", [*DeliveryStatus.values, ""])
def test_a_status_icon_prints_its_drawing(status):
    expected = render_to_string("icons/status.svg", {"status": status})

    assert render('{% icon "status" status=status %}', status=status) == expected


@pytest.mark.parametrize("kind", InboxKind.values)
def test_a_channel_icon_prints_its_drawing(kind):
    expected = render_to_string("icons/channel_kind.svg", {"kind": kind})

    assert render('{% icon "channel_kind" kind=kind %}', kind=kind) == expected
    assert f"channel-icon-{kind}" in expected


def test_choice_labels_read_as_djangos_display_methods():
    for kind in InboxKind.values:
        conversation = Conversation(channel=kind)
        assert conversation.channel_label == conversation.get_channel_display()
    for priority in Priority.values:
        conversation = Conversation(priority=priority)
        assert conversation.priority_label == conversation.get_priority_display()
    for status in [*DeliveryStatus.values, ""]:
        message = Message(status=status)
        assert message.status_label == message.get_status_display()
    assert Conversation(channel="fax").channel_label == "fax"


@pytest.fixture
def conversation(widget_inbox, customer_writes):
    return customer_writes(widget_inbox, "Is my order on its way?").conversation


def test_a_message_shows_each_attribute_it_carries(agent, conversation, widget_inbox):
    message = services.record_inbound_message(
        widget_inbox,
        conversation.contact_identity,
        body="",
        content_attributes={
            "subject": "Order 1042",
            "location": {"name": "Warehouse", "latitude": 45.46, "longitude": 9.19},
            "reaction": {"emoji": "👍"},
            "quoted": "On Monday you wrote",
            "echo": True,
        },
    ).message

    html = render_to_string("conversations/partials/message.html", {"message": message})

    for shown in [
        "Order 1042",
        "Shared a location: Warehouse 45.46, 9.19",
        "Reacted 👍",
        "On Monday you wrote",
        "Sent from another app",
    ]:
        assert shown in html
    plain = services.record_inbound_message(
        widget_inbox, conversation.contact_identity, body="Just text"
    ).message
    html = render_to_string("conversations/partials/message.html", {"message": plain})
    for absent in ["message-subject", "message-location", "message-reaction", "Sent from"]:
        assert absent not in html


def test_a_shared_location_is_written_as_the_readers_language_writes_numbers(
    conversation, widget_inbox
):
    message = services.record_inbound_message(
        widget_inbox,
        conversation.contact_identity,
        body="",
        content_attributes={"location": {"name": "", "latitude": 45.46, "longitude": 9.19}},
    ).message

    with translation.override("it"):
        html = render_to_string("conversations/partials/message.html", {"message": message})

    assert "45,46, 9,19" in html
    assert f'data-message-id="{message.pk}"' in html


def test_a_template_message_names_its_template(agent, conversation):
    message = Message.objects.create(
        conversation=conversation,
        inbox=conversation.inbox,
        direction="outbound",
        kind="template",
        author_type="agent",
        author=agent,
        body="Your order shipped",
        content_attributes={"template": {"name": "order_shipped"}},
        status=DeliveryStatus.DELIVERED,
    )

    html = render_to_string("conversations/partials/message.html", {"message": message})

    assert "Template · order_shipped" in html
    assert 'title="Delivered"' in html


@override_settings(USE_THOUSAND_SEPARATOR=True)
def test_identifiers_in_rows_and_messages_are_never_grouped_like_quantities(conversation):
    (row,) = row_values(Conversation.objects.filter(pk=conversation.pk))
    row["pk"] = 1234567
    message = load_message(conversation.last_message_id)
    message.pk = message.id = 7654321

    (row_html,) = conversation_rows([row])
    message_html = render_to_string("conversations/partials/message.html", {"message": message})

    assert 'data-conversation-id="1234567"' in row_html
    assert "#1234567" in row_html
    assert 'data-message-id="7654321"' in message_html
    assert "1,234,567" not in row_html
    assert "7,654,321" not in message_html


def test_agent_names_are_escaped_in_the_bulk_assign_menu(client, agent, conversation, make_user):
    make_user(Role.AGENT, name="<b>Bold</b> Agent")
    client.force_login(agent)

    response = client.get(
        reverse("conversations:inbox"),
        {"view": "all"},
        headers={"HX-Request": "true", "HX-Target": "list-pane"},
    )

    content = response.content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt; Agent</option>" in content
    assert "<b>Bold</b>" not in content


class Recording(dict):
    """A row that notes which of its values are read."""

    def __init__(self, row):
        super().__init__(row)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def test_a_row_shows_nothing_but_what_its_cache_key_is_made_of(agent, conversation):
    services.add_label(agent, conversation, Label.objects.create(name="VIP"))
    services.assign_conversation(agent, conversation, agent)
    (row,) = row_values(Conversation.objects.filter(pk=conversation.pk))
    recording = Recording(row)

    row_shown(recording, timezone.now())

    assert recording.read <= {*ROW_COLUMNS, "last_message_shown", "labels"}


def test_a_row_read_with_its_page_is_the_row_of_the_loaded_conversation(agent, conversation):
    services.add_label(agent, conversation, Label.objects.create(name="VIP"))
    services.add_label(agent, conversation, Label.objects.create(name="Billing"))
    services.assign_conversation(agent, conversation, agent)
    services.send_reply(agent, conversation, "It left the warehouse this morning")

    (from_page,) = row_values(Conversation.objects.filter(pk=conversation.pk))
    loaded = row_of(load_conversation(conversation.pk))

    assert from_page == loaded
    assert [name for _pk, name in loaded["labels"]] == ["Billing", "VIP"]
    assert loaded["last_message_shown"]["body"] == "It left the warehouse this morning"
    assert conversation_rows([from_page]) == conversation_rows([loaded])


def test_a_reused_row_changes_as_soon_as_anything_it_shows_changes(agent, conversation):
    def rendered():
        (row,) = row_values(Conversation.objects.filter(pk=conversation.pk))
        return conversation_rows([row])[0]

    first = rendered()
    assert rendered() == first
    assert "Unassigned" in first
    with translation.override("es"):
        assert "Sin asignar" in rendered()

    update_contact_details(conversation.contact, name="Clara <i>Ruiz</i>")
    assert "Clara &lt;i&gt;Ruiz&lt;/i&gt;" in rendered()

    services.assign_conversation(agent, conversation, agent)
    assert "></span>Ana</span>" in rendered()
    agent.display_name = "Anabel Agent"
    agent.save(update_fields=["display_name"])
    assert "></span>Anabel</span>" in rendered()

    services.add_label(agent, conversation, Label.objects.create(name="VIP"))
    assert '<span class="label-chip">VIP</span>' in rendered()


def test_how_long_a_row_has_waited_is_said_to_the_minute(conversation):
    (row,) = row_values(Conversation.objects.filter(pk=conversation.pk))
    since = row["waiting_since"]

    def rendered_at(moment):
        with mock.patch("django.utils.timezone.now", return_value=moment):
            return conversation_rows([row])[0]

    assert "7\xa0minutes" in rendered_at(since + timedelta(minutes=7, seconds=5))
    assert "7\xa0minutes" in rendered_at(since + timedelta(minutes=7, seconds=55))
    assert "8\xa0minutes" in rendered_at(since + timedelta(minutes=8, seconds=1))


def test_a_reused_message_is_the_template_s_rendering_of_it(agent, conversation):
    reply = services.send_reply(agent, conversation, "It left the warehouse this morning")
    loaded = load_message(reply.pk)

    assert message_html(loaded) == render_to_string(
        "conversations/partials/message.html", {"message": loaded}
    )
    assert message_html(load_message(reply.pk)) == message_html(loaded)


def test_a_reused_message_changes_as_soon_as_anything_it_shows_changes(agent, conversation):
    reply = services.send_reply(agent, conversation, "It left the warehouse this morning")
    first = message_html(load_message(reply.pk))

    Message.objects.filter(pk=reply.pk).update(status=DeliveryStatus.READ)
    assert 'title="Read"' in message_html(load_message(reply.pk))

    agent.display_name = "Anabel Agent"
    agent.save(update_fields=["display_name"])
    assert "Anabel Agent" in message_html(load_message(reply.pk))
    assert "Anabel Agent" not in first

    inbound = conversation.messages.get(direction="inbound")
    update_contact_details(conversation.contact, name="Clara <i>Ruiz</i>")
    assert "Clara &lt;i&gt;Ruiz&lt;/i&gt;" in message_html(load_message(inbound.pk))

    with translation.override("es"):
        assert "Leído" in message_html(load_message(reply.pk))
