"""Actions on conversations: status and snooze, priority, team, labels, bulk, canned replies,
unread counts, and access to every action's URL."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts.models import ContactChange
from conversations import queries, services
from conversations.models import Activity, CannedResponse, Conversation, Label, Status
from inbox.models import Role, Team


@pytest.fixture
def conversation(widget_inbox, customer_writes):
    return customer_writes(widget_inbox, "Is my order on its way?").conversation


def test_resolving_records_who_and_when_and_reopening_clears_it(agent, conversation):
    services.change_status(agent, conversation, Status.RESOLVED)
    conversation.refresh_from_db()
    assert conversation.status == Status.RESOLVED
    assert conversation.resolved_at
    services.change_status(agent, conversation, Status.OPEN)
    conversation.refresh_from_db()
    assert conversation.resolved_at is None
    assert list(Activity.objects.values_list("from_value", "to_value")) == [
        ("open", "resolved"),
        ("resolved", "open"),
    ]


def test_snoozing_needs_a_time_in_the_future(agent, conversation):
    with pytest.raises(services.ActionRefused, match="future"):
        services.change_status(
            agent, conversation, Status.SNOOZED, snoozed_until=timezone.now() - timedelta(1)
        )
    assert not Activity.objects.exists()


def test_a_snoozed_conversation_wakes_when_its_time_comes(agent, conversation):
    later = timezone.now() + timedelta(hours=1)
    services.change_status(agent, conversation, Status.SNOOZED, snoozed_until=later)
    assert services.wake_snoozed_conversations(now=later - timedelta(minutes=1)) == 0
    assert services.wake_snoozed_conversations(now=later) == 1
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN
    assert Activity.objects.filter(reason="snooze_ended").exists()


def test_a_customer_message_reopens_a_recently_resolved_conversation(
    agent, widget_inbox, conversation, customer_writes
):
    services.change_status(agent, conversation, Status.RESOLVED)
    visitor = conversation.contact_identity.external_id
    again = customer_writes(widget_inbox, "One more question", visitor=visitor)
    assert again.conversation_id == conversation.pk
    assert Activity.objects.filter(reason="customer_message").exists()


def test_after_the_reopen_window_a_customer_message_starts_a_new_conversation(
    agent, widget_inbox, conversation, customer_writes, settings
):
    settings.CONVERSATION_REOPEN_WINDOW = timedelta(hours=1)
    services.change_status(agent, conversation, Status.RESOLVED)
    Conversation.objects.filter(pk=conversation.pk).update(
        resolved_at=timezone.now() - timedelta(hours=2)
    )
    visitor = conversation.contact_identity.external_id
    again = customer_writes(widget_inbox, "Hello again", visitor=visitor)
    assert again.conversation_id != conversation.pk


def test_reopening_is_refused_while_the_customer_has_another_open_conversation(
    agent, widget_inbox, conversation, customer_writes, settings
):
    settings.CONVERSATION_REOPEN_WINDOW = timedelta(0)
    services.change_status(agent, conversation, Status.RESOLVED)
    customer_writes(widget_inbox, "New question", visitor=conversation.contact_identity.external_id)
    with pytest.raises(services.ActionRefused, match="already has an open conversation"):
        services.change_status(agent, conversation, Status.OPEN)


def test_priority_team_and_labels_are_recorded(agent, conversation):
    team = Team.objects.create(name="Billing")
    label = Label.objects.create(name="refund")
    services.set_priority(agent, conversation, 3)
    services.assign_team(agent, conversation, team)
    services.add_label(agent, conversation, label)
    services.add_label(agent, conversation, label)
    services.remove_label(agent, conversation, label)
    fields = list(Activity.objects.order_by("pk").values_list("field", flat=True))
    assert fields == ["priority", "team", "label_added", "label_removed"]
    with pytest.raises(services.ActionRefused):
        services.set_priority(agent, conversation, 9)


def test_bulk_changes_go_through_each_conversations_own_action(
    agent, make_user, widget_inbox, customer_writes
):
    outsider = make_user(Role.AGENT)
    first = customer_writes(widget_inbox, "One").conversation
    second = customer_writes(widget_inbox, "Two").conversation
    result = services.bulk_update(agent, [first, second], assignee=outsider)
    assert result.changed == 0
    assert len(result.refusals) == 2
    result = services.bulk_update(agent, [first, second], assignee=agent, status="resolved")
    assert result.changed == 2
    assert set(Conversation.objects.values_list("status", "assignee")) == {("resolved", agent.pk)}


def test_unread_counts_follow_what_the_user_has_read(agent, conversation, widget_inbox):
    assert queries.unread_counts(agent)["all"] == 1
    services.mark_conversation_read(agent, conversation)
    assert queries.unread_counts(agent)["all"] == 0
    services.assign_conversation(agent, conversation, agent)
    services.record_inbound_message(widget_inbox, conversation.contact_identity, body="Any news?")
    counts = queries.unread_counts(agent)
    assert counts["all"] == counts["mine"] == counts["title"] == 1


def test_the_navigation_counts_open_conversations_per_view_and_inbox(
    agent, make_user, widget_inbox, other_inbox, customer_writes
):
    colleague = make_user(Role.AGENT, inboxes=[widget_inbox])
    mine = customer_writes(widget_inbox, "Where is my parcel?").conversation
    waiting = customer_writes(widget_inbox, "Hello?").conversation
    customer_writes(other_inbox, "Not for this agent")
    closed = customer_writes(widget_inbox, "Thanks, bye").conversation
    services.assign_conversation(agent, mine, agent)
    for _ in range(2):  # two notes mentioning the agent: one conversation
        services.add_note(colleague, mine, "Can you look?", mentioned_users=[agent])
    services.add_note(colleague, closed, "Before it closes", mentioned_users=[agent])
    services.change_status(agent, closed, Status.RESOLVED)
    services.mark_conversation_read(agent, waiting)

    navigation = queries.navigation(agent)

    fixed = {key: (count, unread) for key, _title, count, unread in navigation["fixed"]}
    assert fixed["mine"] == (1, 1)
    assert fixed["unassigned"] == (1, 0)
    assert fixed["all"] == (2, 1)
    assert fixed["mentions"][0] == 1
    inboxes = {key: (count, unread) for key, _name, count, unread in navigation["inboxes"]}
    assert inboxes == {f"inbox-{widget_inbox.pk}": (2, 1)}
    supervisor_view = queries.navigation(make_user(Role.SUPERVISOR))
    assert {key: count for key, _n, count, _u in supervisor_view["inboxes"]} == {
        f"inbox-{widget_inbox.pk}": 2,
        f"inbox-{other_inbox.pk}": 1,
    }


def test_the_unread_marks_of_a_loaded_page_follow_the_same_rule_as_the_counts(
    agent, widget_inbox, customer_writes
):
    never_read = customer_writes(widget_inbox, "Hello?").conversation
    read = customer_writes(widget_inbox, "Thanks").conversation
    written_since = customer_writes(widget_inbox, "First").conversation
    resolved = customer_writes(widget_inbox, "Bye").conversation
    for seen in (read, written_since):
        services.mark_conversation_read(agent, seen)
    services.record_inbound_message(
        widget_inbox, written_since.contact_identity, body="Second, after you read"
    )
    services.change_status(agent, resolved, Status.RESOLVED)
    marked = set()
    for status in Status.values:
        view = queries.resolve_view(agent, "all", status)
        marked |= queries.conversation_page(agent, view).unread_ids

    assert marked == {never_read.pk, written_since.pk}
    assert marked == set(queries.unread_conversations(agent).values_list("pk", flat=True))


def test_canned_responses_personal_for_anyone_shared_only_for_supervisors(agent, make_user):
    mine = services.create_canned_response(agent, shortcut="Hours", title="", body="9 to 5")
    assert (mine.shortcut, mine.owner) == ("hours", agent)
    with pytest.raises(services.ActionRefused, match="Only supervisors"):
        services.create_canned_response(agent, shortcut="x", title="", body="y", shared=True)
    with pytest.raises(services.ActionRefused, match="taken"):
        services.create_canned_response(agent, shortcut="hours", title="", body="z")
    boss = make_user(Role.SUPERVISOR)
    shared = services.create_canned_response(
        boss, shortcut="hours", title="", body="8 to 6", shared=True
    )
    assert shared.owner is None
    assert set(CannedResponse.objects.available_to(agent)) == {mine, shared}
    assert set(CannedResponse.objects.available_to(boss)) == {shared}


ACTION_URLS = [
    ("conversations:status", {"status": "resolved"}),
    ("conversations:priority", {"priority": "2"}),
    ("conversations:team", {"team": ""}),
    ("conversations:labels", {"label": "0"}),
    ("conversations:assign", {"assignee": ""}),
    ("conversations:save_canned", {"shortcut": "s", "body": "b"}),
]


@pytest.mark.parametrize(("name", "data"), ACTION_URLS)
def test_every_action_on_another_inboxs_conversation_is_a_404(
    client, make_user, other_inbox, conversation, name, data
):
    client.force_login(make_user(Role.AGENT, inboxes=[other_inbox]))
    assert client.post(reverse(name, args=[conversation.pk]), data).status_code == 404
    assert not Activity.objects.exists()
    assert not CannedResponse.objects.exists()


@pytest.mark.parametrize(
    "name", ["contacts:edit_detail", "contacts:set_attribute", "contacts:add_note"]
)
def test_editing_a_contact_seen_only_in_another_inbox_is_a_404(
    client, make_user, other_inbox, conversation, name
):
    client.force_login(make_user(Role.AGENT, inboxes=[other_inbox]))
    data = {"field": "name", "value": "X", "key": "k", "body": "b"}
    response = client.post(reverse(name, args=[conversation.contact_id]), data)
    assert response.status_code == 404
    assert not ContactChange.objects.exists()


def test_a_bad_email_is_refused_in_the_panel_with_nothing_saved(client, agent, conversation):
    client.force_login(agent)
    response = client.post(
        reverse("contacts:edit_detail", args=[conversation.contact_id]),
        {"field": "email", "value": "not-an-address"},
    )
    assert response.status_code == 422
    assert "is not an e-mail address" in response.content.decode()
    assert not ContactChange.objects.exists()


def test_bulk_only_touches_conversations_the_user_may_see(
    client, make_user, other_inbox, conversation
):
    client.force_login(make_user(Role.AGENT, inboxes=[other_inbox]))
    response = client.post(
        reverse("conversations:bulk"), {"conversations": [conversation.pk], "status": "resolved"}
    )
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN


@pytest.mark.parametrize(
    "name", ["conversations:bulk", "availability", "notifications", "language"]
)
def test_anonymous_users_are_sent_to_sign_in(client, db, name):
    response = client.post(reverse(name))
    assert response.status_code == 302
    assert reverse("account_login") in response.url
