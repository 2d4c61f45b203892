"""The demo workspace loads once and can be loaded again safely."""

import pytest
from django.core.management import call_command

from conversations.models import Conversation, Message
from inbox.demo import DEMO_CONVERSATIONS, DEMO_USERS, load_demo_data
from inbox.models import Inbox, InboxKind, Team, User

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def counts():
    return (
        User.objects.count(),
        Inbox.objects.count(),
        Team.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
    )


def test_load_demo_data_creates_the_demo_workspace(db):
    load_demo_data()

    assert set(User.objects.values_list("email", flat=True)) == {u[0] for u in DEMO_USERS}
    widget = Inbox.objects.get(kind=InboxKind.WEB_WIDGET)
    # One inbox of every messaging kind, pointed at the provider sandbox.
    assert sorted(Inbox.objects.values_list("kind", flat=True)) == sorted(InboxKind.values)
    assert Conversation.objects.filter(inbox=widget).count() == len(DEMO_CONVERSATIONS)
    assert Message.objects.count() == sum(len(c[4]) for c in DEMO_CONVERSATIONS)


def test_load_demo_data_twice_duplicates_nothing(db):
    load_demo_data()
    first = counts()

    load_demo_data()

    assert counts() == first


def test_the_demo_agent_works_every_demo_inbox_and_the_second_agent_none(db):
    load_demo_data()

    ana = User.objects.get(email="agent@example.com")
    marco = User.objects.get(email="agent2@example.com")
    assert set(Inbox.objects.visible_to(ana)) == set(Inbox.objects.all())
    assert not Inbox.objects.visible_to(marco).exists()
    assert not Conversation.objects.visible_to(marco).exists()


def test_demo_users_sign_in_with_the_documented_password(db, client):
    load_demo_data()

    signed_in = client.login(email="agent@example.com", password="switchboard")

    assert signed_in is True


def test_demo_conversations_keep_waiting_time_and_preview_consistent(db):
    load_demo_data()

    for conversation in Conversation.objects.select_related("last_message"):
        assert conversation.last_message is not None
        assert conversation.last_message_at == conversation.last_message.created_at
        customer_spoke_last = conversation.last_message.direction == "inbound"
        assert (conversation.waiting_since is not None) == customer_spoke_last


def test_the_management_command_lists_the_demo_accounts(db, capsys):
    call_command("load_demo_data")
    call_command("load_demo_data")

    output = capsys.readouterr().out
    assert output.count("agent@example.com") == 2
    assert User.objects.count() == len(DEMO_USERS)
