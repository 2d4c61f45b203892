"""The website widget: the loader script, the framed page and the visitor's endpoints."""

import hashlib
import hmac
import json

import pytest
from django.conf import settings
from django.urls import reverse

from contacts.models import ContactIdentity
from contacts.services import get_or_create_identity
from conversations import services
from conversations.models import DeliveryStatus, Direction, Message
from inbox.models import Inbox, InboxKind
from inbox.widget import TOKEN_HEADER, sign_visitor_token

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

IDENTITY_SECRET = "host-site-secret"  # the widget_inbox fixture's


def origin():
    return {"Origin": settings.PUBLIC_ORIGIN}


def start_session(client, inbox, payload=None, headers=None):
    return client.post(
        reverse("widget_session", args=[inbox.public_token]),
        data=json.dumps(payload or {}),
        content_type="application/json",
        headers=origin() if headers is None else headers,
    )


def signature(identifier, secret=IDENTITY_SECRET):
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def identity_of(response, inbox):
    from inbox.widget import identity_from_token

    return identity_from_token(inbox.public_token, response.json()["token"])


def visitor_headers(identity, **extra):
    return {TOKEN_HEADER: sign_visitor_token(identity), **origin(), **extra}


def messages_url(inbox):
    return reverse("widget_messages", args=[inbox.public_token])


def post_message(client, inbox, body, headers):
    return client.post(messages_url(inbox), {"body": body}, headers=headers)


# --- The loader script and the framed page ----------------------------------------------------


def test_widget_script_is_javascript_pointing_at_public_url(client, db):
    response = client.get(reverse("widget_script"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert settings.PUBLIC_URL in response.content.decode()
    assert response["Access-Control-Allow-Origin"] == "*"


def csp_directives(response):
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_widget_page_may_be_framed_only_by_the_inboxs_sites(client, widget_inbox):
    widget_inbox.provider_config = {
        "allowed_sites": ["https://shop.example", "https://www.shop.example/"]
    }
    widget_inbox.save(update_fields=["provider_config"])

    response = client.get(reverse("widget_page", args=[widget_inbox.public_token]))

    assert response.status_code == 200
    assert csp_directives(response)["frame-ancestors"] == [
        "https://shop.example",
        "https://www.shop.example",
    ]
    assert "X-Frame-Options" not in response


def test_widget_page_without_listed_sites_may_be_framed_anywhere(client, widget_inbox):
    response = client.get(reverse("widget_page", args=[widget_inbox.public_token]))

    assert csp_directives(response)["frame-ancestors"] == ["*"]
    assert "X-Frame-Options" not in response
    assert widget_inbox.name in response.content.decode()


def test_the_workspace_itself_may_not_be_framed(client, agent):
    client.force_login(agent)

    response = client.get(reverse("conversations:inbox"))

    assert csp_directives(response)["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"


def test_demo_page_embeds_the_script_from_public_url(client, widget_inbox):
    response = client.get(reverse("widget_demo"))

    content = response.content.decode()
    assert response.status_code == 200
    assert (
        f'<script src="{settings.PUBLIC_URL}/widget.js" data-inbox="{widget_inbox.public_token}"'
        in content
    )
    assert settings.PUBLIC_ORIGIN in csp_directives(response)["script-src"]


def test_demo_page_without_a_widget_inbox_is_a_404(client, db):
    assert client.get(reverse("widget_demo")).status_code == 404


def test_an_inactive_inbox_has_no_widget(client, widget_inbox, visitor):
    Inbox.objects.filter(pk=widget_inbox.pk).update(is_active=False)
    token = widget_inbox.public_token

    assert client.get(reverse("widget_page", args=[token])).status_code == 404
    assert start_session(client, widget_inbox).status_code == 404
    headers = visitor_headers(visitor)
    assert post_message(client, widget_inbox, "Hello?", headers).status_code == 404
    assert client.get(reverse("widget_demo")).status_code == 404
    assert not Message.objects.exists()


def test_an_inbox_of_another_kind_has_no_widget(client, db):
    whatsapp = Inbox.objects.create(name="WhatsApp", kind=InboxKind.WHATSAPP)

    response = client.get(reverse("widget_page", args=[whatsapp.public_token]))

    assert response.status_code == 404


# --- Sessions ---------------------------------------------------------------------------------


def test_a_session_starts_a_guest_visitor(client, widget_inbox):
    response = start_session(client, widget_inbox, {"language": "es"})

    assert response.status_code == 200
    identity = identity_of(response, widget_inbox)
    assert identity.external_id.startswith("visitor:")
    assert identity.contact.language == "es"


@pytest.mark.parametrize(
    "headers", [{}, {"Origin": "https://evil.example"}, {"Origin": "null"}], ids=str
)
def test_a_session_from_a_foreign_origin_is_refused(client, widget_inbox, headers):
    response = start_session(client, widget_inbox, headers=headers)

    assert response.status_code == 403
    assert response.json()["error"] == "Requests must come from the Switchboard widget."
    assert not ContactIdentity.objects.exists()


def test_a_session_on_a_site_that_is_not_listed_is_refused(client, widget_inbox):
    widget_inbox.provider_config = {"allowed_sites": ["https://shop.example"]}
    widget_inbox.save(update_fields=["provider_config"])

    refused = start_session(client, widget_inbox, {"site": "https://copycat.example"})
    allowed = start_session(client, widget_inbox, {"site": "https://shop.example/"})

    assert refused.status_code == 403
    assert refused.json()["error"] == "This chat is not available on this website."
    assert allowed.status_code == 200
    assert ContactIdentity.objects.count() == 1


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_an_unreadable_session_request_is_a_400(client, widget_inbox, body):
    response = client.post(
        reverse("widget_session", args=[widget_inbox.public_token]),
        data=body,
        content_type="application/json",
        headers=origin(),
    )

    assert response.status_code == 400
    assert not ContactIdentity.objects.exists()


def test_a_signed_in_user_of_the_host_site_is_identified(client, widget_inbox):
    response = start_session(
        client,
        widget_inbox,
        {"identifier": "customer-42", "identifier_hash": signature("customer-42")},
    )

    assert response.status_code == 200
    assert identity_of(response, widget_inbox).external_id == "user:customer-42"


def test_the_same_signed_in_user_gets_the_same_identity_on_every_device(client, widget_inbox):
    payload = {"identifier": "customer-42", "identifier_hash": signature("customer-42")}

    laptop = identity_of(start_session(client, widget_inbox, payload), widget_inbox)
    phone = identity_of(start_session(client, widget_inbox, payload), widget_inbox)

    assert laptop.pk == phone.pk
    assert ContactIdentity.objects.count() == 1


@pytest.mark.parametrize(
    "identifier_hash",
    ["", "0" * 64, signature("customer-43"), signature("customer-42", "wrong-secret")],
)
def test_a_wrong_identity_hash_is_refused_and_creates_nothing(
    client, widget_inbox, identifier_hash
):
    response = start_session(
        client, widget_inbox, {"identifier": "customer-42", "identifier_hash": identifier_hash}
    )

    assert response.status_code == 403
    assert response.json()["error"] == (
        "We could not verify who you are. You can still chat as a guest."
    )
    assert not ContactIdentity.objects.exists()


def test_an_inbox_without_an_identity_secret_verifies_nobody(client, other_inbox):
    response = start_session(
        client,
        other_inbox,
        {"identifier": "customer-42", "identifier_hash": signature("customer-42", "")},
    )

    assert response.status_code == 403
    assert not ContactIdentity.objects.exists()


def test_a_valid_token_resumes_the_same_visitor(client, widget_inbox):
    first = start_session(client, widget_inbox)

    again = start_session(client, widget_inbox, {"token": first.json()["token"]})

    assert identity_of(again, widget_inbox).pk == identity_of(first, widget_inbox).pk
    assert ContactIdentity.objects.count() == 1


def test_a_token_of_another_inbox_starts_a_new_visitor(client, widget_inbox, other_inbox):
    elsewhere, _ = get_or_create_identity(other_inbox, "visitor:elsewhere")

    response = start_session(client, widget_inbox, {"token": sign_visitor_token(elsewhere)})

    identity = identity_of(response, widget_inbox)
    assert identity.pk != elsewhere.pk
    assert identity.inbox == widget_inbox


# --- Visitor messages -------------------------------------------------------------------------


def test_a_visitor_message_is_stored_in_their_conversation(client, widget_inbox, visitor):
    response = post_message(
        client, widget_inbox, "  Do you ship to Lisbon?  ", visitor_headers(visitor)
    )

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.body == "Do you ship to Lisbon?"
    assert message.direction == Direction.INBOUND
    assert message.conversation.contact_identity == visitor
    assert f'id="widget-message-{message.pk}"' in response.content.decode()


def test_a_visitor_message_is_escaped_in_the_answer(client, widget_inbox, visitor):
    response = post_message(
        client, widget_inbox, "<script>alert(1)</script>", visitor_headers(visitor)
    )

    assert "<script>alert(1)</script>" not in response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.content.decode()


@pytest.mark.parametrize("token", [None, "", "forged-token", "a:b:c"])
def test_a_visitor_message_without_a_valid_token_is_a_401(client, widget_inbox, token):
    headers = origin()
    if token is not None:
        headers[TOKEN_HEADER] = token

    response = post_message(client, widget_inbox, "Hello", headers)

    assert response.status_code == 401
    assert "expired" in response.json()["error"]
    assert not Message.objects.exists()


def test_a_visitor_token_is_only_good_on_its_own_inbox(client, widget_inbox, other_inbox, visitor):
    response = post_message(client, other_inbox, "Hello", visitor_headers(visitor))

    assert response.status_code == 401
    assert not Message.objects.exists()


def test_a_visitor_message_from_a_foreign_origin_is_a_403(client, widget_inbox, visitor):
    headers = visitor_headers(visitor, Origin="https://evil.example")

    response = post_message(client, widget_inbox, "Hello", headers)

    assert response.status_code == 403
    assert not Message.objects.exists()


def test_an_empty_visitor_message_is_a_400(client, widget_inbox, visitor):
    response = post_message(client, widget_inbox, "   ", visitor_headers(visitor))

    assert response.status_code == 400
    assert response.json()["error"] == "Write a message before sending."
    assert not Message.objects.exists()


def test_a_too_long_visitor_message_is_a_413(client, widget_inbox, visitor):
    body = "x" * (settings.WIDGET_MESSAGE_MAX_LENGTH + 1)

    response = post_message(client, widget_inbox, body, visitor_headers(visitor))

    assert response.status_code == 413
    assert str(settings.WIDGET_MESSAGE_MAX_LENGTH) in response.json()["error"]
    assert not Message.objects.exists()


def test_history_holds_only_the_visitors_own_customer_visible_messages(
    client, widget_inbox, visitor, agent, django_capture_on_commit_callbacks
):
    mine = services.record_inbound_message(widget_inbox, visitor, body="My question").message
    conversation = mine.conversation
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.send_reply(agent, conversation, "Our answer")
    queued = services.send_reply(agent, conversation, "Not sent yet")
    sending = services.send_reply(agent, conversation, "On its way")
    Message.objects.filter(pk=sending.pk).update(status=DeliveryStatus.SENDING)
    note = services.add_note(agent, conversation, "Internal: VIP")
    other, _ = get_or_create_identity(widget_inbox, "visitor:other")
    theirs = services.record_inbound_message(widget_inbox, other, body="Someone else").message

    response = client.get(
        messages_url(widget_inbox), headers={TOKEN_HEADER: sign_visitor_token(visitor)}
    )

    assert response.status_code == 200
    content = response.content.decode()
    for shown in (mine, sent):
        assert f'id="widget-message-{shown.pk}"' in content
    for hidden in (queued, sending, note, theirs):
        assert f'id="widget-message-{hidden.pk}"' not in content
        assert hidden.body not in content
    assert content.index("My question") < content.index("Our answer")


def test_profile_saves_name_and_email(client, widget_inbox, visitor):
    response = client.post(
        reverse("widget_profile", args=[widget_inbox.public_token]),
        {"name": "Vera V.", "email": "vera@example.org"},
        headers=visitor_headers(visitor),
    )

    assert response.status_code == 204
    visitor.contact.refresh_from_db()
    assert (visitor.contact.name, visitor.contact.email) == ("Vera V.", "vera@example.org")


def test_profile_refuses_an_invalid_email(client, widget_inbox, visitor):
    response = client.post(
        reverse("widget_profile", args=[widget_inbox.public_token]),
        {"name": "Vera", "email": "vera-at-example"},
        headers=visitor_headers(visitor),
    )

    assert response.status_code == 400
    assert response.json()["error"] == "“vera-at-example” is not an e-mail address."
    visitor.contact.refresh_from_db()
    assert (visitor.contact.name, visitor.contact.email) == ("Vera Visitor", "")
