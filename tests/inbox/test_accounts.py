"""Accounts: e-mail sign-in, password reset by e-mail, and TOTP two-factor for anyone."""

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from allauth.mfa.models import Authenticator
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from inbox.models import Role

PASSWORD = "correct horse battery"


def totp(secret, at=None):
    """RFC 6238 code (SHA-1, 30 s, 6 digits), as an authenticator app computes it."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


@pytest.fixture
def person(make_user):
    return make_user(Role.AGENT, name="Paula Person")


def sign_in(client, user, password=PASSWORD):
    return client.post(reverse("account_login"), {"login": user.email, "password": password})


def test_a_user_signs_in_with_their_email_address(client, person):
    response = sign_in(client, person)
    assert response.status_code == 302
    assert client.get(reverse("conversations:inbox")).status_code == 200


def test_a_wrong_password_is_refused_with_a_clear_message(client, person):
    response = sign_in(client, person, password="not it")
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert client.get(reverse("conversations:inbox")).status_code == 302


def test_everything_but_the_widget_needs_a_signed_in_user(client, widget_inbox):
    assert client.get(reverse("conversations:inbox")).url.startswith(reverse("account_login"))
    assert client.get("/admin/").status_code == 302
    assert client.get(f"/widget/{widget_inbox.public_token}/").status_code == 200
    assert client.get("/widget.js").status_code == 200


def test_nobody_can_sign_themselves_up(client, db):
    response = client.post(
        reverse("account_signup"), {"email": "new@example.test", "password1": "x" * 20}
    )
    assert "closed" in response.content.decode().lower()
    from inbox.models import User

    assert not User.objects.filter(email="new@example.test").exists()


def test_a_forgotten_password_is_reset_through_a_link_by_email(client, person):
    response = client.post(reverse("account_reset_password"), {"email": person.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    form_page = client.get(link.group(1), follow=True)
    new_password = "a brand new passphrase 42"
    response = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1),
        {"password1": new_password, "password2": new_password},
    )
    assert response.status_code == 302
    client.logout()
    assert sign_in(client, person, password=new_password).status_code == 302


def test_any_user_can_turn_on_two_factor_and_then_needs_the_code_to_sign_in(client, person):
    sign_in(client, person)
    confirm = client.get(reverse("mfa_activate_totp"))
    assert confirm.url.startswith(reverse("account_reauthenticate")), "asks for the password again"
    client.post(confirm.url, {"password": PASSWORD})
    page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": totp(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()

    client.logout()
    cache.clear()  # a code may be used once; the next sign-in uses the same time step
    response = sign_in(client, person)
    assert response.url == reverse("mfa_authenticate")
    assert client.get(reverse("conversations:inbox")).status_code == 302, "not signed in yet"

    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200
    assert client.post(reverse("mfa_authenticate"), {"code": totp(secret)}).status_code == 302
    assert client.get(reverse("conversations:inbox")).status_code == 200
