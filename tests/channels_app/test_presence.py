"""Presence: an agent's own choice stands; Switchboard only changes what it set itself."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app import presence
from channels_app.models import AgentSocket
from inbox.models import Availability


def availability(user):
    user.refresh_from_db()
    return user.availability


def test_an_agent_is_online_with_a_socket_and_offline_when_the_last_one_closes(agent):
    presence.socket_opened(agent, "one")
    presence.socket_opened(agent, "two")
    assert availability(agent) == Availability.ONLINE
    presence.socket_closed(agent, "one")
    assert availability(agent) == Availability.ONLINE
    presence.socket_closed(agent, "two")
    assert availability(agent) == Availability.OFFLINE


def test_idle_makes_an_agent_away_and_activity_brings_them_back(agent):
    presence.socket_opened(agent, "one")
    presence.went_idle(agent)
    assert availability(agent) == Availability.AWAY
    presence.came_back(agent)
    assert availability(agent) == Availability.ONLINE


def test_an_agents_own_away_is_not_undone_by_activity_or_a_new_socket(agent):
    presence.set_availability(agent, Availability.AWAY)
    presence.came_back(agent)
    presence.socket_opened(agent, "one")
    assert availability(agent) == Availability.AWAY


def test_sockets_whose_server_died_are_swept_and_the_agent_goes_offline(agent):
    presence.socket_opened(agent, "lost")
    AgentSocket.objects.update(seen_at=timezone.now() - timedelta(minutes=10))
    assert presence.sweep_stale_sockets() == 1
    assert availability(agent) == Availability.OFFLINE


def test_availability_and_notifications_are_set_from_the_user_menu(client, agent):
    client.force_login(agent)
    assert client.post(reverse("availability"), {"availability": "away"}).status_code == 204
    assert availability(agent) == Availability.AWAY
    assert client.post(reverse("availability"), {"availability": "asleep"}).status_code == 400
    assert client.post(reverse("notifications"), {}).status_code == 204
    agent.refresh_from_db()
    assert agent.notifications_enabled is False


@pytest.mark.parametrize("value", ["online", "away", "offline"])
def test_every_availability_can_be_chosen(agent, value):
    presence.set_availability(agent, value)
    assert availability(agent) == value
