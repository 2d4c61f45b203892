"""Access helpers: "missing" and "not yours" get the same answer."""

import pytest
from django.http import Http404

from conversations.access import access_conversation, can_see_conversation, visible_conversations
from conversations.fragments import conversation_queryset
from inbox.models import Role

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def mine(widget_inbox, customer_writes):
    return customer_writes(widget_inbox, "Hello").conversation


@pytest.fixture
def theirs(other_inbox, customer_writes):
    return customer_writes(other_inbox, "Hello, other brand").conversation


def test_agent_opens_conversation_of_their_inbox(agent, mine):
    assert access_conversation(agent, mine.pk) == mine
    assert can_see_conversation(agent, mine)


def test_agent_cannot_open_conversation_of_other_inbox(agent, theirs):
    with pytest.raises(Http404):
        access_conversation(agent, theirs.pk)
    assert not can_see_conversation(agent, theirs)


@pytest.mark.parametrize("pk", [987654, "abc", None, "1 OR 1=1"])
def test_a_missing_or_malformed_id_is_a_404(agent, mine, pk):
    with pytest.raises(Http404):
        access_conversation(agent, pk)


def test_missing_and_not_yours_raise_the_same_error(agent, theirs):
    with pytest.raises(Http404) as not_yours:
        access_conversation(agent, theirs.pk)
    with pytest.raises(Http404) as missing:
        access_conversation(agent, theirs.pk + 1000)

    assert str(not_yours.value) == str(missing.value)


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisors_and_admins_open_any_conversation(make_user, role, mine, theirs):
    user = make_user(role)

    assert access_conversation(user, mine.pk) == mine
    assert access_conversation(user, theirs.pk) == theirs


def test_an_inactive_user_opens_nothing(make_user, widget_inbox, mine):
    retired = make_user(Role.ADMIN, inboxes=[widget_inbox], is_active=False)

    with pytest.raises(Http404):
        access_conversation(retired, mine.pk)


def test_agent_removed_from_an_inbox_loses_its_conversations(agent, widget_inbox, mine):
    widget_inbox.members.remove(agent)

    with pytest.raises(Http404):
        access_conversation(agent, mine.pk)
    assert not visible_conversations(agent).exists()


def test_a_scoped_queryset_keeps_the_access_check(agent, theirs, mine):
    with pytest.raises(Http404):
        access_conversation(agent, theirs.pk, conversation_queryset())

    found = access_conversation(agent, mine.pk, conversation_queryset())
    assert found == mine
