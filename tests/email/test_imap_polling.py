"""Polling an IMAP mailbox, against a real dovecot."""

from datetime import UTC, datetime
from email.parser import BytesParser

import pytest

from inbox.models import Inbox, InboxKind
from inbox.providers.email import MailboxUnavailable, poll_mailbox
from tests.email.conftest import IMAP_PASSWORD
from tests.email.mails import plain_mail


def mail_bytes(n):
    return plain_mail(
        f"Message number {n}", subject=f"Mail {n}", message_id=f"<mail-{n}@customer.test>"
    ).as_bytes()


def message_ids(raw_mails):
    return [BytesParser().parsebytes(raw)["Message-ID"] for raw in raw_mails]


def email_inbox(dovecot, user, **overrides):
    # Not saved: polling only reads the inbox's settings.
    return Inbox(
        name="Acme Support",
        kind=InboxKind.EMAIL,
        provider_config=dovecot.inbox_config(user, **overrides),
        provider_secrets={"imap_password": IMAP_PASSWORD},
    )


@pytest.fixture
def mailbox(dovecot):
    """A fresh mailbox user and a way to deliver into it (IMAP APPEND)."""
    user = dovecot.new_user()

    class Mailbox:
        inbox = email_inbox(dovecot, user)

        @staticmethod
        def deliver(*numbers, folder="INBOX", when=None):
            with dovecot.client(user) as client:
                for n in numbers:
                    client.append(folder, mail_bytes(n), msg_time=when)

        @staticmethod
        def client():
            return dovecot.client(user)

    return Mailbox


def test_first_poll_returns_every_message_in_uid_order(mailbox):
    mailbox.deliver(1, 2, 3)

    mails, state = poll_mailbox(mailbox.inbox, {})

    assert message_ids(mails) == [f"<mail-{n}@customer.test>" for n in (1, 2, 3)]
    assert state["last_uid"] == 3
    assert isinstance(state["uidvalidity"], int)


def test_returned_bytes_are_the_whole_raw_message(mailbox):
    mailbox.deliver(1)

    [raw], _ = poll_mailbox(mailbox.inbox, {})

    parsed = BytesParser().parsebytes(raw)
    assert parsed["Subject"] == "Mail 1"
    assert "Message number 1" in parsed.get_payload()


def test_a_second_poll_returns_only_what_arrived_since(mailbox):
    mailbox.deliver(1, 2)
    first, state = poll_mailbox(mailbox.inbox, {})

    again, state_again = poll_mailbox(mailbox.inbox, state)
    mailbox.deliver(3)
    later, _ = poll_mailbox(mailbox.inbox, state_again)

    assert len(first) == 2
    assert again == []
    assert state_again["last_uid"] == state["last_uid"]
    assert message_ids(later) == ["<mail-3@customer.test>"]


def test_polling_marks_nothing_as_seen(mailbox):
    mailbox.deliver(1, 2)

    poll_mailbox(mailbox.inbox, {})

    with mailbox.client() as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    assert len(flags) == 2
    assert all(b"\\Seen" not in f for f in flags.values())


def test_fetches_in_batches_and_keeps_the_order(mailbox):
    mailbox.deliver(*range(1, 8))

    mails, state = poll_mailbox(mailbox.inbox, {}, batch_size=3)

    assert message_ids(mails) == [f"<mail-{n}@customer.test>" for n in range(1, 8)]
    assert state["last_uid"] == 7


def test_a_long_backlog_is_read_over_several_polls(mailbox):
    mailbox.deliver(*range(1, 6))

    first, state = poll_mailbox(mailbox.inbox, {}, max_messages=3, batch_size=2)
    rest, state = poll_mailbox(mailbox.inbox, state, max_messages=3, batch_size=2)
    nothing, _ = poll_mailbox(mailbox.inbox, state, max_messages=3)

    assert message_ids(first + rest) == [f"<mail-{n}@customer.test>" for n in range(1, 6)]
    assert len(first) == 3
    assert nothing == []


def test_an_empty_mailbox_gives_nothing_and_a_state(mailbox):
    mailbox.deliver()

    mails, state = poll_mailbox(mailbox.inbox, {})

    assert mails == []
    assert state["last_uid"] == 0


def test_uidvalidity_change_takes_only_mail_newer_than_the_last_fetched(dovecot):
    user = dovecot.new_user()
    inbox = email_inbox(dovecot, user, imap_mailbox="Support")
    morning = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
    with dovecot.client(user) as client:
        client.create_folder("Support")
        client.append("Support", mail_bytes(1), msg_time=morning)
        client.append("Support", mail_bytes(2), msg_time=morning.replace(hour=10))
    seen_before, state = poll_mailbox(inbox, {})

    # The folder is recreated (a migration, a restore): UIDs start again at 1 and the
    # history comes back along with one genuinely new message.
    with dovecot.client(user) as client:
        client.delete_folder("Support")
        client.create_folder("Support")
        client.append("Support", mail_bytes(1), msg_time=morning)
        client.append("Support", mail_bytes(2), msg_time=morning.replace(hour=10))
        client.append("Support", mail_bytes(3), msg_time=morning.replace(hour=11))
        client.select_folder("Support", readonly=True)
        current = client.folder_status("Support", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    assert current != state["uidvalidity"]

    after_reset, new_state = poll_mailbox(inbox, state)
    nothing_more, _ = poll_mailbox(inbox, new_state)

    assert message_ids(seen_before) == ["<mail-1@customer.test>", "<mail-2@customer.test>"]
    # Mail 2 shares the newest internal date we had fetched: it may come again (the
    # inbound events dedupe it on its Message-ID); mail 1 is older and does not.
    assert message_ids(after_reset) == ["<mail-2@customer.test>", "<mail-3@customer.test>"]
    assert new_state["uidvalidity"] == current
    assert new_state["last_uid"] == 3
    assert nothing_more == []


def test_wrong_password_is_mailbox_unavailable(dovecot):
    inbox = email_inbox(dovecot, dovecot.new_user())
    inbox.provider_secrets = {"imap_password": "not it"}

    with pytest.raises(MailboxUnavailable, match="login"):
        poll_mailbox(inbox, {})


def test_unreachable_server_is_mailbox_unavailable(dovecot):
    from tests.email.conftest import free_port

    inbox = email_inbox(dovecot, dovecot.new_user(), imap_port=free_port())

    with pytest.raises(MailboxUnavailable, match="reach"):
        poll_mailbox(inbox, {})


def test_missing_folder_is_mailbox_unavailable(dovecot):
    inbox = email_inbox(dovecot, dovecot.new_user(), imap_mailbox="Nope")

    with pytest.raises(MailboxUnavailable, match="mailbox"):
        poll_mailbox(inbox, {})


@pytest.mark.django_db
def test_the_periodic_poll_stores_new_mail_once_and_remembers_where_it_got_to(
    mailbox, django_capture_on_commit_callbacks
):
    from conversations.models import Message
    from inbox.models import MailboxState
    from inbox.polling import poll_all_mailboxes

    inbox = mailbox.inbox
    inbox.save()
    mailbox.deliver(1, 2)

    with django_capture_on_commit_callbacks(execute=True):
        assert poll_all_mailboxes() == 2
    mailbox.deliver(3)
    with django_capture_on_commit_callbacks(execute=True):
        assert poll_all_mailboxes() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert poll_all_mailboxes() == 0

    assert Message.objects.filter(inbox=inbox).count() == 3
    state = MailboxState.objects.get(inbox=inbox)
    assert state.cursor["last_uid"] == 3
    assert state.error == ""


@pytest.mark.django_db
def test_a_mailbox_that_cannot_be_reached_keeps_its_error_for_the_admin(dovecot):
    from inbox.models import MailboxState
    from inbox.polling import poll_mailbox_of

    inbox = email_inbox(dovecot, dovecot.new_user(), imap_port=9)
    inbox.save()

    assert poll_mailbox_of(inbox) == 0

    assert MailboxState.objects.get(inbox=inbox).error
