"""Labels on contacts: put on and taken off from the contact panel, logged and live."""

import pytest
from django.urls import reverse

from channels_app.events import frames_for
from channels_app.models import LiveEvent
from contacts.models import ContactChange
from contacts.services import add_contact_label, remove_contact_label
from conversations.models import Label
from inbox.models import Role

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


@pytest.fixture
def conversation(widget_inbox, customer_writes):
    return customer_writes(widget_inbox, "Do you ship to Lisbon?", name="Lena Lima").conversation


@pytest.fixture
def contact(conversation):
    return conversation.contact


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def vip(db):
    return Label.objects.create(name="vip")


@pytest.fixture
def wholesale(db):
    return Label.objects.create(name="wholesale")


def changes(contact):
    return list(
        ContactChange.objects.filter(contact=contact)
        .order_by("pk")
        .values_list("actor__display_name", "field", "from_value", "to_value")
    )


def test_adding_a_label_puts_it_on_the_contact_and_records_who_did_it(agent, contact, vip):
    add_contact_label(agent, contact, vip)

    assert list(contact.labels.all()) == [vip]
    assert changes(contact) == [("Ana Agent", "labels", "", "vip")]


def test_the_change_records_the_whole_set_of_labels_before_and_after(
    agent, contact, vip, wholesale
):
    add_contact_label(agent, contact, wholesale)
    add_contact_label(agent, contact, vip)
    remove_contact_label(agent, contact, wholesale)

    assert list(contact.labels.all()) == [vip]
    assert changes(contact) == [
        ("Ana Agent", "labels", "", "wholesale"),
        ("Ana Agent", "labels", "wholesale", "vip, wholesale"),
        ("Ana Agent", "labels", "vip, wholesale", "vip"),
    ]


def test_removing_a_label_takes_only_that_one_off(agent, contact, vip, wholesale):
    add_contact_label(agent, contact, vip)
    add_contact_label(agent, contact, wholesale)

    remove_contact_label(agent, contact, vip)

    assert list(contact.labels.all()) == [wholesale]
    assert changes(contact)[-1] == ("Ana Agent", "labels", "vip, wholesale", "wholesale")


def test_adding_a_label_twice_or_removing_an_absent_one_changes_and_logs_nothing(
    agent, contact, vip
):
    add_contact_label(agent, contact, vip)
    events = LiveEvent.objects.count()

    add_contact_label(agent, contact, vip)
    remove_contact_label(agent, contact, Label.objects.create(name="never-added"))

    assert list(contact.labels.all()) == [vip]
    assert len(changes(contact)) == 1
    assert LiveEvent.objects.count() == events


def test_a_contact_label_does_not_label_their_conversations(agent, contact, conversation, vip):
    add_contact_label(agent, contact, vip)

    assert not conversation.labels.exists()


@pytest.mark.usefixtures("listening_agents")
def test_a_label_change_is_pushed_with_the_contact_panel_to_the_inbox(
    agent, contact, conversation, vip
):
    add_contact_label(agent, contact, vip)

    event = LiveEvent.objects.select_related("conversation__contact", "user").latest("pk")
    assert (event.kind, event.conversation_id) == ("contact.updated", conversation.pk)
    frames = [frame for frame in frames_for(event) if " list " in frame.html.split("-->")[0]]
    assert frames
    for frame in frames:
        assert f'id="contact-panel-{contact.pk}"' in frame.html
        assert 'hx-swap-oob="true"' in frame.html
        # Checked by structure: the frame is rendered once per language.
        assert f'name="label" value="{vip.pk}">' in frame.html
        assert 'name="action" value="remove"' in frame.html


# --- The panel ---------------------------------------------------------------------------------


def test_the_panel_lists_the_contacts_labels_with_a_named_remove_button(
    agent_client, agent, contact, conversation, vip, wholesale
):
    add_contact_label(agent, contact, vip)

    page = agent_client.get(reverse("conversations:detail", args=[conversation.pk]))
    html = page.content.decode().split(f'id="contact-panel-{contact.pk}"')[1]

    assert 'aria-label="Remove the label vip"' in html
    assert 'aria-label="Remove the label wholesale"' not in html
    # Only the labels not on the contact are offered for adding.
    assert f'<option value="{wholesale.pk}">wholesale</option>' in html
    assert f'<option value="{vip.pk}">vip</option>' not in html


def test_an_agent_adds_and_removes_a_label_from_the_panel(agent_client, contact, vip):
    url = reverse("contacts:change_label", args=[contact.pk])

    added = agent_client.post(url, {"label": vip.pk})

    assert added.status_code == 200
    assert 'aria-label="Remove the label vip"' in added.content.decode()
    assert list(contact.labels.all()) == [vip]

    removed = agent_client.post(url, {"label": vip.pk, "action": "remove"})

    assert removed.status_code == 200
    assert 'aria-label="Remove the label vip"' not in removed.content.decode()
    assert not contact.labels.exists()
    assert len(changes(contact)) == 2


@pytest.mark.parametrize("label", ["", "999999", "vip"])
def test_a_missing_label_is_refused_in_the_panel_with_nothing_saved(agent_client, contact, label):
    response = agent_client.post(
        reverse("contacts:change_label", args=[contact.pk]), {"label": label}
    )

    assert response.status_code == 422
    assert "That label does not exist." in response.content.decode()
    assert not ContactChange.objects.exists()


def test_labelling_a_contact_seen_only_in_another_inbox_is_a_404(
    client, make_user, other_inbox, contact, vip
):
    client.force_login(make_user(Role.AGENT, inboxes=[other_inbox]))

    response = client.post(reverse("contacts:change_label", args=[contact.pk]), {"label": vip.pk})

    assert response.status_code == 404
    assert not contact.labels.exists()
