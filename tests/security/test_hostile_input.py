"""Hostile deliveries to every webhook and to the widget's message endpoint.

Property-based: hypothesis throws malformed JSON and forms, wrong content types, invalid
UTF-8, deep nesting and payloads with fields missing at the real views (Django's test
client), signed with each provider's own scheme, forged, or unsigned. What must hold:

- never a server error, neither in the view nor when the stored delivery is applied;
- unsigned or forged: 403 and nothing stored;
- correctly signed but unreadable: 200, kept as a failed InboundEvent, no message;
- over 4 MiB: 413 and nothing stored;
- a genuine delivery posted again: 200 and nothing new.
"""

import json
import re
from urllib.parse import urlencode

from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from conversations.models import Message
from inbox.inbound import apply_inbound_event
from inbox.models import InboundEvent, InboundEventStatus, Inbox, InboxKind
from inbox.providers import twilio
from inbox.sandbox import payloads
from inbox.widget import sign_visitor_token

EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECRET = "s3cret-for-signing"  # noqa: S105 - test inboxes only
WRONG = "not-the-secret"
# An applied event that failed must say what was wrong with the delivery, not that our
# code tripped over it (the sweeper's catch-all writes "SomeError: …").
CRASH = re.compile(r"^[A-Z]\w*(Error|Exception|Exit)\b")

CONFIGS = {
    "whatsapp": (
        {"phone_number_id": "1001", "waba_id": "2002", "display_phone_number": "15550001111"},
        {"access_token": SECRET, "app_secret": SECRET, "verify_token": SECRET},
    ),
    "messenger": (
        {"page_id": "3003"},
        {"page_token": SECRET, "app_secret": SECRET, "verify_token": SECRET},
    ),
    "instagram": (
        {"page_id": "3003", "instagram_account_id": "4004"},
        {"page_token": SECRET, "app_secret": SECRET, "verify_token": SECRET},
    ),
    "telegram": (
        {"bot_username": "acme_bot", "mode": "webhook"},
        {"bot_token": "1:x", "secret_token": SECRET},
    ),
    "twilio_sms": (
        {"account_sid": "AC" + "1" * 32, "from_number": "+15005550006"},
        {"auth_token": SECRET},
    ),
    "twilio_whatsapp": (
        {"account_sid": "AC" + "1" * 32, "from_number": "whatsapp:+15005550006"},
        {"auth_token": SECRET},
    ),
}
META_KINDS = ("whatsapp", "messenger", "instagram")
JSON_KINDS = (*META_KINDS, "telegram")

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "text/xml",
        "",
        "garbage/!!;;;=",
    ]
)
FIELDS = [
    *("object", "entry", "changes", "value", "messages", "statuses", "contacts", "metadata"),
    *("id", "from", "type", "text", "body", "timestamp", "messaging", "sender", "recipient"),
    *("message", "mid", "update_id", "chat", "message_id", "edited_message", "photo", "field"),
]
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
form_fields = [
    *("MessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "MediaUrl0"),
    *("MediaContentType0", "MessageStatus", "SmsStatus", "AccountSid", "ErrorCode", "WaId"),
]


def nested(depth):
    return b"[" * depth + b"]" * depth


# Bodies no provider could have sent: each must end as a failed event with no message.
unreadable = st.one_of(
    st.binary(max_size=600).map(lambda raw: b"\xff\xfe\xfa" + raw),  # invalid UTF-8
    st.text(max_size=300).map(lambda text: ("{" + text).encode()),  # broken JSON
    st.integers(min_value=1, max_value=20_000).map(nested),  # deep nesting
    json_value.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode()),
)
# Bodies with the right shape but fields missing or of the wrong type.
misshapen_json = st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=6).map(
    lambda v: json.dumps(v).encode()
)
misshapen_form = st.dictionaries(
    st.sampled_from(form_fields) | st.text(max_size=6), st.text(max_size=40), max_size=8
).map(lambda fields: urlencode(fields).encode())


def genuine(kind, inbox, path, *, text="Hello", message_id=None):
    """A real customer message for `kind`, as (body, headers)."""
    config = inbox.provider_config
    if kind == "whatsapp":
        return payloads.whatsapp_message(
            SECRET,
            config["phone_number_id"],
            "+34600111222",
            text,
            waba_id=config["waba_id"],
            message_id=message_id,
        )
    if kind == "messenger":
        return payloads.messenger_message(SECRET, config["page_id"], "5005", text, mid=message_id)
    if kind == "instagram":
        return payloads.instagram_message(
            SECRET, config["instagram_account_id"], "6006", text, mid=message_id
        )
    if kind == "telegram":
        return payloads.telegram_update(SECRET, message_id or 77, 8008, text)
    number = "+34600111222"
    sender = f"whatsapp:{number}" if kind == "twilio_whatsapp" else number
    return payloads.twilio_message(
        SECRET,
        django_settings.PUBLIC_URL + path,
        sender,
        config["from_number"],
        text,
        account_sid=config["account_sid"],
        message_sid=message_id,
    )


def signature_headers(kind, path, body, secret):
    """The headers `kind` signs `body` with, using `secret` (the real one or a wrong one)."""
    if kind in META_KINDS:
        return {"X-Hub-Signature-256": payloads.meta_signature(secret, body)}
    if kind == "telegram":
        return {"X-Telegram-Bot-Api-Secret-Token": secret}
    params = twilio._form(body)
    url = django_settings.PUBLIC_URL + path
    return {"X-Twilio-Signature": twilio.signature(secret, url, params)}


def post(path, body, content_type, headers):
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return Client().generic("POST", path, body, content_type=content_type, **extra)


class HostileWebhookDeliveries(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.inboxes = {
            kind: Inbox.objects.create(
                name=kind, kind=kind, provider_config=config, provider_secrets=secrets
            )
            for kind, (config, secrets) in CONFIGS.items()
        }

    def path(self, kind):
        return f"/webhooks/{kind}/{self.inboxes[kind].public_token}/"

    def assert_nothing_stored(self):
        assert InboundEvent.objects.count() == 0
        assert Message.objects.count() == 0

    def deliver(self, kind, body, content_type, signing):
        path = self.path(kind)
        headers = {}
        if signing == "signed":
            headers = signature_headers(kind, path, body, SECRET)
        elif signing == "forged":
            headers = signature_headers(kind, path, body, WRONG)
        elif signing == "garbled":
            headers = {
                name: value[:-3] + "A=="
                for name, value in signature_headers(kind, path, body, SECRET).items()
            }
        return post(path, body, content_type, headers)

    def check_hostile(self, kind, signing, body, content_type, must_fail):
        response = self.deliver(kind, body, content_type, signing)
        if signing != "signed":
            assert response.status_code == 403, response.content
            self.assert_nothing_stored()
            return
        assert response.status_code == 200, response.content
        event = InboundEvent.objects.get()
        event = apply_inbound_event(event.pk)
        assert event.status in (InboundEventStatus.PROCESSED, InboundEventStatus.FAILED)
        if event.status == InboundEventStatus.FAILED:
            assert not re.search(CRASH, event.error)
        if must_fail:
            assert event.status == InboundEventStatus.FAILED, event.error
            assert Message.objects.count() == 0

    def hostile_property(kind):  # noqa: N805 - builds one test per provider kind
        shaped = misshapen_form if kind.startswith("twilio") else misshapen_json

        @EXAMPLES
        @given(
            signing=st.sampled_from(["signed", "signed", "forged", "garbled", "missing"]),
            delivery=st.one_of(
                unreadable.map(lambda body: (body, True)),
                shaped.map(lambda body: (body, False)),
                (misshapen_json if kind.startswith("twilio") else misshapen_form).map(
                    lambda body: (body, kind in JSON_KINDS)
                ),
            ),
            content_type=CONTENT_TYPES,
        )
        def test(self, signing, delivery, content_type):
            body, must_fail = delivery
            if kind.startswith("twilio") and must_fail:
                # A form without MessageSid is unreadable whatever bytes it is made of.
                must_fail = b"MessageSid" not in body and b"SmsSid" not in body
            self.check_hostile(kind, signing, body, content_type, must_fail)

        test.__name__ = f"test_hostile_{kind}_deliveries_never_fail_and_never_make_messages"
        return test

    test_hostile_whatsapp = hostile_property("whatsapp")
    test_hostile_messenger = hostile_property("messenger")
    test_hostile_instagram = hostile_property("instagram")
    test_hostile_telegram = hostile_property("telegram")
    test_hostile_twilio_sms = hostile_property("twilio_sms")
    test_hostile_twilio_whatsapp = hostile_property("twilio_whatsapp")

    def replay_property(kind):  # noqa: N805
        @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(text=st.text(min_size=1, max_size=200).filter(str.strip))
        def test(self, text):
            path = self.path(kind)
            body, headers = genuine(kind, self.inboxes[kind], path, text=text)
            content_type = headers.pop("Content-Type")
            for _attempt in range(2):
                response = post(path, body, content_type, headers)
                assert response.status_code == 200, response.content
                for event in InboundEvent.objects.all():
                    apply_inbound_event(event.pk)
            assert InboundEvent.objects.count() == 1
            assert Message.objects.count() == 1

        test.__name__ = f"test_a_replayed_{kind}_delivery_is_a_duplicate"
        return test

    test_replay_whatsapp = replay_property("whatsapp")
    test_replay_messenger = replay_property("messenger")
    test_replay_instagram = replay_property("instagram")
    test_replay_telegram = replay_property("telegram")
    test_replay_twilio_sms = replay_property("twilio_sms")
    test_replay_twilio_whatsapp = replay_property("twilio_whatsapp")

    def test_a_genuine_delivery_makes_a_message(self):
        # The control for the properties above: the same helpers do make messages.
        for kind, inbox in self.inboxes.items():
            path = self.path(kind)
            body, headers = genuine(kind, inbox, path, text=f"hi from {kind}")
            content_type = headers.pop("Content-Type")
            assert post(path, body, content_type, headers).status_code == 200
            apply_inbound_event(InboundEvent.objects.get(inbox=inbox).pk)
            assert Message.objects.filter(inbox=inbox, body=f"hi from {kind}").exists()

    def test_a_delivery_over_4_mib_is_refused_and_nothing_stored(self):
        limit = django_settings.WEBHOOK_MAX_BODY_BYTES
        body = b'{"object": "' + b"x" * limit + b'"}'
        for kind in self.inboxes:
            for signing in ("signed", "missing"):
                response = self.deliver(kind, body, "application/json", signing)
                assert response.status_code == 413, (kind, signing)
                self.assert_nothing_stored()

    def test_a_declared_length_over_4_mib_is_refused_before_reading(self):
        path = self.path("telegram")
        response = Client().generic(
            "POST",
            path,
            b"{}",
            content_type="application/json",
            CONTENT_LENGTH=str(django_settings.WEBHOOK_MAX_BODY_BYTES + 1),
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
        )
        assert response.status_code == 413
        self.assert_nothing_stored()


class HostileWidgetMessages(TestCase):
    @classmethod
    def setUpTestData(cls):
        from contacts.services import get_or_create_identity

        cls.inbox = Inbox.objects.create(name="Chat", kind=InboxKind.WEB_WIDGET)
        other = Inbox.objects.create(name="Other chat", kind=InboxKind.WEB_WIDGET)
        identity, _ = get_or_create_identity(cls.inbox, "visitor:hostile")
        stranger, _ = get_or_create_identity(other, "visitor:stranger")
        cls.token = sign_visitor_token(identity)
        cls.stranger_token = sign_visitor_token(stranger)

    @EXAMPLES
    @given(
        credentials=st.sampled_from(["valid", "valid", "forged", "other-inbox", "none", "origin"]),
        body=st.one_of(
            st.binary(max_size=800),
            st.binary(max_size=300).map(lambda raw: b"body=\xff\xfe" + raw),
            st.text(max_size=300).map(lambda text: urlencode({"body": text}).encode()),
            st.integers(min_value=1, max_value=50_000).map(nested),
            json_value.map(lambda v: json.dumps(v).encode()),
            st.text(max_size=300).map(
                lambda text: (
                    '--xyz\r\nContent-Disposition: form-data; name="body"\r\n\r\n' + text
                ).encode()
            ),
        ),
        content_type=CONTENT_TYPES,
    )
    def test_hostile_widget_posts_never_fail_and_store_only_what_they_say(
        self, credentials, body, content_type
    ):
        headers = {"HTTP_ORIGIN": django_settings.PUBLIC_ORIGIN}
        if credentials == "origin":
            headers["HTTP_ORIGIN"] = "https://evil.example"
        if credentials in ("valid", "origin"):
            headers["HTTP_X_VISITOR_TOKEN"] = self.token
        elif credentials == "forged":
            headers["HTTP_X_VISITOR_TOKEN"] = self.token[:-4] + "AAAA"
        elif credentials == "other-inbox":
            headers["HTTP_X_VISITOR_TOKEN"] = self.stranger_token
        response = Client().generic(
            "POST",
            f"/widget/{self.inbox.public_token}/messages/",
            body,
            content_type=content_type,
            **headers,
        )
        assert response.status_code < 500
        if credentials == "origin":
            assert response.status_code == 403
        elif credentials != "valid":
            assert response.status_code == 401
        if response.status_code != 200:
            assert Message.objects.count() == 0
        else:
            assert Message.objects.count() == 1
            assert Message.objects.get().body.strip()
