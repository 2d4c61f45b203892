"""Whether a page is still signed in: the workspace asks when its live socket closes, since a
socket refused because the session ended looks the same to a browser as a network drop."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.usefixtures("fast_password_hashing")


def test_a_signed_in_agent_gets_204_and_nothing_is_cached(client, agent):
    client.force_login(agent)

    response = client.get(reverse("session"))

    assert response.status_code == 204
    assert "no-store" in response["Cache-Control"]


def test_without_a_session_the_answer_is_401_not_the_sign_in_page(client, db):
    response = client.get(reverse("session"))

    assert response.status_code == 401
    assert "Location" not in response
    assert "no-store" in response["Cache-Control"]


def test_after_signing_out_the_answer_is_401(client, agent):
    client.force_login(agent)
    client.post(reverse("account_logout"))

    assert client.get(reverse("session")).status_code == 401


def test_the_session_of_a_deactivated_agent_gets_401(client, agent):
    client.force_login(agent)
    agent.is_active = False
    agent.save(update_fields=["is_active"])

    assert client.get(reverse("session")).status_code == 401


def test_the_session_is_only_read(client, agent):
    client.force_login(agent)

    assert client.post(reverse("session")).status_code == 405
