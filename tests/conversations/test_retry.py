"""Retry and Resend: a reply that failed, or may not have arrived, goes again only on request."""

import pytest
from django.urls import reverse

from conversations import services
from conversations.models import DeliveryStatus, Message


@pytest.fixture
def reply(agent, widget_inbox, customer_writes, django_capture_on_commit_callbacks):
    conversation = customer_writes(widget_inbox, "Where is my parcel?").conversation
    with django_capture_on_commit_callbacks(execute=True):
        message = services.send_reply(agent, conversation, "Let me check.")
    return Message.objects.get(pk=message.pk)


def set_status(message, status, error=""):
    Message.objects.filter(pk=message.pk).update(status=status, error_message=error)
    message.refresh_from_db()
    return message


@pytest.mark.parametrize("status", [DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN])
def test_an_agent_sends_a_failed_or_unknown_reply_again(
    client, agent, reply, status, django_capture_on_commit_callbacks
):
    set_status(reply, status, error="Recipient unavailable")
    client.force_login(agent)
    url = reverse("conversations:retry_message", args=[reply.conversation_id, reply.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    reply.refresh_from_db()
    assert reply.status == DeliveryStatus.SENT
    assert reply.error_message == ""


@pytest.mark.parametrize("status", [DeliveryStatus.SENT, DeliveryStatus.QUEUED])
def test_a_reply_that_is_not_failed_is_not_sent_again(agent, reply, status):
    set_status(reply, status)
    with pytest.raises(services.ActionRefused, match="Only a failed or undelivered reply"):
        services.retry_message(agent, reply)
    reply.refresh_from_db()
    assert reply.status == status


def test_the_failed_reply_shows_its_reason_and_a_retry_button(client, agent, reply):
    set_status(reply, DeliveryStatus.FAILED, error="Recipient unavailable <b>now</b>")
    client.force_login(agent)
    page = client.get(reverse("conversations:detail", args=[reply.conversation_id]))
    html = page.content.decode()
    assert "Recipient unavailable &lt;b&gt;now&lt;/b&gt;" in html
    assert reverse("conversations:retry_message", args=[reply.conversation_id, reply.pk]) in html


def test_retrying_a_reply_of_another_inbox_is_a_404(client, make_user, other_inbox, reply):
    outsider = make_user(inboxes=[other_inbox])
    set_status(reply, DeliveryStatus.FAILED)
    client.force_login(outsider)
    url = reverse("conversations:retry_message", args=[reply.conversation_id, reply.pk])
    assert client.post(url).status_code == 404
    reply.refresh_from_db()
    assert reply.status == DeliveryStatus.FAILED
