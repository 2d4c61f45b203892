"""Sending a reply: a real SMTP conversation with a local aiosmtpd server."""

from email import policy
from email.parser import BytesParser

import pytest
from django.core import mail as django_mail
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.services import get_or_create_identity
from conversations import services as conversation_services
from inbox.models import Inbox, InboxKind, Role
from inbox.providers import adapter_for
from inbox.providers.base import OutcomeUnknown, PermanentSendError, RetryableSendError
from tests.email.conftest import free_port
from tests.email.mails import PDF, plain_mail

INBOUND = "inbound.switchboard.localhost"


@pytest.fixture(autouse=True)
def mail_settings(settings, tmp_path):
    settings.INBOUND_EMAIL_DOMAIN = INBOUND
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def email_inbox(db):
    return Inbox.objects.create(
        name="Acme Support",
        kind=InboxKind.EMAIL,
        provider_config={
            "address": "support@acme.test",
            "imap_host": "127.0.0.1",
            "imap_port": 993,
            "imap_user": "support@acme.test",
            "imap_mailbox": "INBOX",
            "imap_ssl": True,
        },
        provider_secrets={"imap_password": "secret"},
    )


@pytest.fixture
def email_agent(make_user, email_inbox):
    return make_user(Role.AGENT, inboxes=[email_inbox], name="Ana Agent")


def receive(inbox, mail):
    """Record an inbound mail the way the inbound task does: parse, then store."""
    [parsed] = adapter_for(inbox).parse(mail.as_bytes(), "message/rfc822").messages
    identity, _ = get_or_create_identity(
        inbox, parsed.sender.external_id, name=parsed.sender.name, email=parsed.sender.email
    )
    return conversation_services.record_inbound_message(
        inbox,
        identity,
        body=parsed.body,
        external_id=parsed.external_id,
        content_attributes=parsed.content_attributes,
    ).message


@pytest.fixture
def customer_mail(email_inbox):
    return receive(
        email_inbox,
        plain_mail(
            "My parcel never came.",
            subject="Where is my order?",
            sender="Carla Customer <Carla@Customer.test>",
            message_id="<order-2@customer.test>",
            References="<order-1@customer.test>",
            In_Reply_To="<order-1@customer.test>",
        ),
    )


def reply(agent, conversation, body="It ships today.", files=()):
    return conversation_services.send_reply(agent, conversation, body, files=files)


def received_mail(envelope):
    return BytesParser(policy=policy.default).parsebytes(envelope.content)


def test_reply_reaches_the_customer_with_our_threading_headers(
    smtp_server, email_agent, customer_mail
):
    conversation = customer_mail.conversation
    message = reply(email_agent, conversation)

    result = adapter_for(conversation.inbox).send_message(message)

    [envelope] = smtp_server.received
    assert envelope.mail_from == "support@acme.test"
    assert envelope.rcpt_tos == ["carla@customer.test"]
    mail = received_mail(envelope)
    our_id = f"{conversation.uuid}.{message.pk}@{INBOUND}"
    # Long ids are folded onto their own line, which is legal; compare the value.
    assert mail["Message-ID"].strip() == f"<{our_id}>"
    assert result.external_id == our_id
    assert mail["In-Reply-To"] == "<order-2@customer.test>"
    assert mail["References"] == "<order-1@customer.test> <order-2@customer.test>"
    assert mail["Reply-To"] == f"reply+{conversation.uuid}@{INBOUND}"
    assert mail["Subject"] == "Re: Where is my order?"
    assert mail["To"] == "carla@customer.test"
    assert mail["From"].addresses[0].display_name == "Ana Agent via Acme Support"
    assert mail["From"].addresses[0].addr_spec == "support@acme.test"
    assert mail.get_body(("plain",)).get_content().strip() == "It ships today."


def test_our_reply_parsed_back_threads_to_its_conversation(smtp_server, email_agent, customer_mail):
    conversation = customer_mail.conversation
    message = reply(email_agent, conversation)
    adapter = adapter_for(conversation.inbox)
    adapter.send_message(message)

    [envelope] = smtp_server.received
    [parsed] = adapter.parse(envelope.content, "message/rfc822").messages

    assert parsed.is_echo is True
    assert parsed.thread_refs[0] == "order-2@customer.test"


def test_subject_that_already_says_re_is_not_doubled(smtp_server, email_agent, email_inbox):
    inbound = receive(email_inbox, plain_mail(subject="RE: Refund", message_id="<r@c.test>"))
    message = reply(email_agent, inbound.conversation)

    adapter_for(email_inbox).send_message(message)

    assert received_mail(smtp_server.received[0])["Subject"] == "RE: Refund"


def test_without_an_inbound_subject_the_inbox_name_is_the_subject(
    smtp_server, email_agent, email_inbox
):
    inbound = receive(email_inbox, plain_mail(subject="", message_id=None))
    message = reply(email_agent, inbound.conversation)

    adapter_for(email_inbox).send_message(message)

    mail = received_mail(smtp_server.received[0])
    assert mail["Subject"] == "Acme Support"
    assert mail["In-Reply-To"] is None
    assert mail["References"] is None


def test_non_ascii_names_and_bodies_are_encoded(smtp_server, make_user, email_inbox):
    agent = make_user(Role.AGENT, inboxes=[email_inbox], name='José "Pepe" Núñez, Jr.')
    inbound = receive(email_inbox, plain_mail(subject="Größe", message_id="<g@c.test>"))
    message = reply(agent, inbound.conversation, body="Grüße – das Team ✓")

    adapter_for(email_inbox).send_message(message)

    mail = received_mail(smtp_server.received[0])
    assert mail["From"].addresses[0].display_name == 'José "Pepe" Núñez, Jr. via Acme Support'
    assert mail["Subject"] == "Re: Größe"
    assert mail.get_body(("plain",)).get_content().strip() == "Grüße – das Team ✓"


def test_attachments_are_sent_with_their_names_and_types(smtp_server, email_agent, customer_mail):
    upload = SimpleUploadedFile("Rechnung März.pdf", PDF, content_type="application/pdf")
    message = reply(
        email_agent, customer_mail.conversation, body="Invoice attached.", files=[upload]
    )

    adapter_for(customer_mail.conversation.inbox).send_message(message)

    mail = received_mail(smtp_server.received[0])
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "Rechnung März.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF


def test_refused_recipient_is_a_permanent_failure_with_the_servers_words(
    smtp_server, email_agent, customer_mail
):
    smtp_server.rcpt_reply = "550 5.1.1 <carla@customer.test>: Recipient address rejected"
    message = reply(email_agent, customer_mail.conversation)

    with pytest.raises(PermanentSendError) as refused:
        adapter_for(customer_mail.conversation.inbox).send_message(message)

    assert "Recipient address rejected" in refused.value.reason
    assert refused.value.code == "550"
    assert smtp_server.received == []


def test_greylisted_recipient_is_retryable(smtp_server, email_agent, customer_mail):
    smtp_server.rcpt_reply = "450 4.2.0 Greylisted, try again later"
    message = reply(email_agent, customer_mail.conversation)

    with pytest.raises(RetryableSendError) as refused:
        adapter_for(customer_mail.conversation.inbox).send_message(message)

    assert "Greylisted" in refused.value.reason


def test_message_refused_after_data_is_permanent(smtp_server, email_agent, customer_mail):
    smtp_server.data_reply = "554 5.7.1 Message rejected as spam"
    message = reply(email_agent, customer_mail.conversation)

    with pytest.raises(PermanentSendError, match="rejected as spam"):
        adapter_for(customer_mail.conversation.inbox).send_message(message)


def test_temporary_refusal_after_data_is_retryable(smtp_server, email_agent, customer_mail):
    smtp_server.data_reply = "451 4.3.0 Mail server temporarily rejected message"
    message = reply(email_agent, customer_mail.conversation)

    with pytest.raises(RetryableSendError, match="temporarily rejected"):
        adapter_for(customer_mail.conversation.inbox).send_message(message)


def test_connection_lost_during_data_leaves_the_outcome_unknown(
    smtp_server, email_agent, customer_mail
):
    smtp_server.hang_up_in_data = True
    message = reply(email_agent, customer_mail.conversation)

    with pytest.raises(OutcomeUnknown):
        adapter_for(customer_mail.conversation.inbox).send_message(message)


def test_closed_port_is_retryable(settings, email_agent, customer_mail):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
    message = reply(email_agent, customer_mail.conversation)

    with pytest.raises(RetryableSendError, match="reach the mail server"):
        adapter_for(customer_mail.conversation.inbox).send_message(message)


def test_local_backends_send_the_same_mail(settings, email_agent, customer_mail):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    message = reply(email_agent, customer_mail.conversation)

    result = adapter_for(customer_mail.conversation.inbox).send_message(message)

    [sent] = django_mail.outbox
    assert sent.extra_headers["Message-ID"] == f"<{result.external_id}>"
    assert sent.to == ["carla@customer.test"]


def test_inbox_without_an_address_fails_for_good(smtp_server, email_agent, customer_mail):
    inbox = customer_mail.conversation.inbox
    inbox.provider_config = {**inbox.provider_config, "address": ""}
    inbox.save(update_fields=["provider_config"])
    message = reply(email_agent, customer_mail.conversation)

    with pytest.raises(PermanentSendError, match="no sending address"):
        adapter_for(inbox).send_message(message)

    assert smtp_server.received == []
