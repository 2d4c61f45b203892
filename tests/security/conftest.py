"""A small world with two inboxes whose data carry marker texts.

Each inbox's customer message, contact name, contact note, private note and attachment
(its file name and its bytes) contain that inbox's marker, so a response that shows data
of an inbox the requester may not see is caught by looking for the marker.
"""

from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.services import add_contact_note, get_or_create_identity
from conversations import services as conversation_services
from inbox.models import Inbox, InboxKind, Role, User
from inbox.widget import sign_visitor_token

MARK_A = "alphamark4q"  # data of inbox A (visitor A1)
MARK_A2 = "secondvisitor9k"  # data of another visitor session in inbox A
MARK_B = "betamark7z"  # data of inbox B
AGENT_ONLY = "agentonly3x"  # private notes and contact notes: never for visitors
SECRET = "providersecret8v"  # provider secrets: never in any response
EVERY_MARKER = (MARK_A, MARK_A2, MARK_B, AGENT_ONLY, SECRET)
PASSWORD = "correct horse battery"  # noqa: S105 - test users only


@dataclass
class Side:
    inbox: Inbox
    identity: object
    conversation: object
    message: object
    attachment: object
    note: object


@dataclass
class World:
    a: Side
    b: Side
    a2: Side
    whatsapp: Inbox
    users: dict = field(default_factory=dict)
    label: object = None

    def token(self, side):
        return sign_visitor_token(side.identity)


def _side(inbox, external_id, marker, agent):
    identity, _ = get_or_create_identity(inbox, external_id, name=f"Contact {marker} name")
    upload = SimpleUploadedFile(
        f"{marker}-file.txt", f"file bytes {marker}".encode(), content_type="text/plain"
    )
    message = conversation_services.record_inbound_message(
        inbox, identity, body=f"hello sharedword {marker} body", files=[upload]
    ).message
    conversation = message.conversation
    note = conversation_services.add_note(agent, conversation, f"{AGENT_ONLY} note {marker}")
    add_contact_note(agent, identity.contact, f"{AGENT_ONLY} contact note {marker}")
    return Side(inbox, identity, conversation, message, message.attachments.get(), note)


def _user(role, email, *inboxes):
    user = User.objects.create_user(email, PASSWORD, display_name=email.split("@")[0], role=role)
    for inbox in inboxes:
        inbox.members.add(user)
    return user


def build_world():
    from conversations.models import Label

    inbox_a = Inbox.objects.create(
        name="Alpha chat",
        kind=InboxKind.WEB_WIDGET,
        provider_secrets={"identity_secret": SECRET},
    )
    inbox_b = Inbox.objects.create(name="Beta chat", kind=InboxKind.WEB_WIDGET)
    whatsapp = Inbox.objects.create(
        name="Alpha WhatsApp",
        kind=InboxKind.WHATSAPP,
        provider_config={"phone_number_id": "1001", "waba_id": "2002"},
        provider_secrets={"access_token": SECRET, "app_secret": SECRET, "verify_token": SECRET},
    )
    users = {
        "agent_in": _user(Role.AGENT, "in@example.test", inbox_a, whatsapp),
        "agent_out": _user(Role.AGENT, "out@example.test", inbox_b),
        "supervisor": _user(Role.SUPERVISOR, "sup@example.test"),
        "admin": _user(Role.ADMIN, "admin@example.test"),
    }
    world = World(
        a=_side(inbox_a, "visitor:a1", MARK_A, users["agent_in"]),
        b=_side(inbox_b, "visitor:b1", MARK_B, users["agent_out"]),
        a2=_side(inbox_a, "visitor:a2", MARK_A2, users["agent_in"]),
        whatsapp=whatsapp,
        users=users,
        label=Label.objects.create(name="vip"),
    )
    return world


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db, media_root, fast_hashing):
    return build_world()
