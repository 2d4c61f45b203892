"""Fixtures shared by the conversation tests."""

import pytest


@pytest.fixture
def theirs(other_inbox, customer_writes):
    return customer_writes(other_inbox, "Hello, other brand", name="Olga Other").conversation


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client
