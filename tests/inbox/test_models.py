"""Users, roles and inboxes: who sees what, and how provider secrets are kept."""

import json

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection

from conversations.models import Conversation, Message
from inbox.models import Inbox, InboxKind, Role, User

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

SECRETS = {"access_token": "EAAG-very-secret-token-9f3c", "app_secret": "s3cr3t-app-4711"}


@pytest.fixture
def inbox_with_secrets(db):
    return Inbox.objects.create(
        name="WhatsApp sales", kind=InboxKind.WHATSAPP, provider_secrets=SECRETS
    )


def raw_provider_secrets(inbox):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT provider_secrets FROM {Inbox._meta.db_table} WHERE id = %s",  # noqa: S608
            [inbox.pk],
        )
        return cursor.fetchone()[0]


def test_users_sign_in_with_a_lower_cased_email(db):
    user = User.objects.create_user("Ana.Agent@Example.COM", "pw", display_name="Ana")

    assert user.email == "ana.agent@example.com"
    assert user.role == Role.AGENT


def test_a_user_needs_an_email(db):
    with pytest.raises(ValueError, match="e-mail"):
        User.objects.create_user("", "pw", display_name="Nobody")


def test_only_active_admins_reach_the_admin_site(make_user):
    admin = make_user(Role.ADMIN)
    supervisor = make_user(Role.SUPERVISOR)
    retired_admin = make_user(Role.ADMIN, is_active=False)

    assert admin.is_staff
    assert admin.has_perm("inbox.change_inbox")
    assert not supervisor.is_staff
    assert not supervisor.has_module_perms("inbox")
    assert not retired_admin.is_staff


def test_an_unknown_time_zone_is_refused(make_user):
    user = make_user(time_zone="Mars/Olympus_Mons")

    with pytest.raises(ValidationError, match="not a known time zone"):
        user.full_clean()


def test_provider_secrets_are_encrypted_at_rest(inbox_with_secrets, settings):
    raw = raw_provider_secrets(inbox_with_secrets)

    for secret in SECRETS.values():
        assert secret not in raw
    assert "access_token" not in raw
    key = Fernet(settings.FIELD_ENCRYPTION_KEY.encode())
    assert json.loads(key.decrypt(raw.encode())) == SECRETS
    assert Inbox.objects.get(pk=inbox_with_secrets.pk).provider_secrets == SECRETS


def test_masked_secrets_show_only_the_last_four_characters(inbox_with_secrets):
    inbox_with_secrets.provider_secrets = {**SECRETS, "unused": ""}

    masked = inbox_with_secrets.masked_secrets()

    assert masked == {
        "access_token": "••••••••9f3c",
        "app_secret": "••••••••4711",
        "unused": "",
    }


def test_secrets_under_a_changed_key_fail_loudly(inbox_with_secrets, settings):
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()

    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEY has changed"):
        Inbox.objects.get(pk=inbox_with_secrets.pk)


def test_a_malformed_encryption_key_is_explained(db, settings):
    settings.FIELD_ENCRYPTION_KEY = "too-short"

    with pytest.raises(ImproperlyConfigured, match="url-safe base64 key of 32 bytes"):
        Inbox.objects.create(name="Bot", kind=InboxKind.TELEGRAM, provider_secrets={"a": "b"})


def test_secrets_are_left_out_of_serialised_dumps(inbox_with_secrets):
    from django.core import serializers

    dump = serializers.serialize("json", [inbox_with_secrets])

    for secret in SECRETS.values():
        assert secret not in dump


def test_only_email_inboxes_allow_parallel_threads():
    assert Inbox(kind=InboxKind.EMAIL).allows_parallel_threads
    assert not Inbox(kind=InboxKind.WHATSAPP).allows_parallel_threads
    assert not Inbox(kind=InboxKind.WEB_WIDGET).allows_parallel_threads


@pytest.fixture
def two_inboxes_with_a_conversation_each(widget_inbox, other_inbox, customer_writes):
    mine = customer_writes(widget_inbox, "Hello from the main site").conversation
    theirs = customer_writes(other_inbox, "Hello from the other brand").conversation
    return mine, theirs


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("member agent", {"widget"}),
        ("agent of no inbox", set()),
        ("supervisor", {"widget", "other"}),
        ("admin", {"widget", "other"}),
        ("inactive admin", set()),
        ("inactive member agent", set()),
    ],
)
def test_inboxes_and_conversations_visible_per_role(
    who, sees, make_user, widget_inbox, other_inbox, two_inboxes_with_a_conversation_each
):
    people = {
        "member agent": lambda: make_user(Role.AGENT, inboxes=[widget_inbox]),
        "agent of no inbox": lambda: make_user(Role.AGENT),
        "supervisor": lambda: make_user(Role.SUPERVISOR),
        "admin": lambda: make_user(Role.ADMIN),
        "inactive admin": lambda: make_user(Role.ADMIN, is_active=False),
        "inactive member agent": lambda: make_user(
            Role.AGENT, inboxes=[widget_inbox], is_active=False
        ),
    }
    user = people[who]()
    names = {"widget": widget_inbox, "other": other_inbox}
    by_inbox = dict(zip(("widget", "other"), two_inboxes_with_a_conversation_each, strict=True))

    assert set(Inbox.objects.visible_to(user)) == {names[n] for n in sees}
    assert set(Conversation.objects.visible_to(user)) == {by_inbox[n] for n in sees}
    assert set(Message.objects.visible_to(user)) == {
        message for n in sees for message in by_inbox[n].messages.all()
    }


def test_anonymous_visitors_see_no_inbox_and_no_conversation(
    two_inboxes_with_a_conversation_each,
):
    assert not Inbox.objects.visible_to(AnonymousUser()).exists()
    assert not Conversation.objects.visible_to(AnonymousUser()).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL form")
def test_an_agent_s_inboxes_are_read_once_not_joined_into_their_list(make_user, widget_inbox):
    # As an array the planner reads first, the list's query keeps one relation fewer to
    # plan, and an index on (inbox, …) can be walked for the inbox it names.
    agent = make_user(Role.AGENT, inboxes=[widget_inbox])

    sql = str(Conversation.objects.visible_to(agent).query)

    assert '"inbox_id" = ANY(ARRAY(SELECT' in sql
    assert " JOIN " not in sql.split("ANY(ARRAY(", 1)[0]


def test_an_agent_of_two_inboxes_sees_each_conversation_once(
    make_user, widget_inbox, other_inbox, two_inboxes_with_a_conversation_each
):
    agent = make_user(Role.AGENT, inboxes=[widget_inbox, other_inbox])

    visible = list(Conversation.objects.visible_to(agent))

    assert sorted(c.pk for c in visible) == sorted(
        c.pk for c in two_inboxes_with_a_conversation_each
    )
