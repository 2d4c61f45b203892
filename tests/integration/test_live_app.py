"""The real processes: daphne serves, the Celery worker sends, PostgreSQL and Redis hold it."""

import time

import httpx
import pytest

from conversations.models import DeliveryStatus, Message
from inbox.demo import load_demo_data

pytestmark = pytest.mark.integration


def wait_for(check, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def signed_in_client(live_app, email):
    client = httpx.Client(base_url=live_app.url, follow_redirects=True, timeout=10)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={
            "login": email,
            "password": "switchboard",
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{live_app.url}/accounts/login/"},
    )
    assert response.url.path == "/", response.text[:500]
    return client


def test_a_reply_is_sent_by_the_worker_and_the_visitor_gets_it(live_app, transactional_db):
    _users, widget = load_demo_data()
    visitor = httpx.Client(base_url=live_app.url, headers={"Origin": live_app.url}, timeout=10)
    session = visitor.post(
        f"/widget/{widget.public_token}/sessions/", json={"site": "http://localhost"}
    )
    token = session.json()["token"]
    sent = visitor.post(
        f"/widget/{widget.public_token}/messages/",
        data={"body": "Can I change my delivery day?"},
        headers={"X-Visitor-Token": token},
    )
    assert sent.status_code == 200
    inbound = Message.objects.get(body="Can I change my delivery day?")

    agent = signed_in_client(live_app, "agent@example.com")
    response = agent.post(
        f"/conversations/{inbound.conversation_id}/reply/",
        data={"body": "Sure, which day suits you?"},
        headers={"X-CSRFToken": agent.cookies["csrftoken"], "HX-Request": "true"},
    )
    assert response.status_code == 200
    reply = Message.objects.get(body="Sure, which day suits you?")

    # Queued by the web process, sent by the worker process.
    wait_for(lambda: Message.objects.get(pk=reply.pk).status == DeliveryStatus.SENT)
    history = visitor.get(
        f"/widget/{widget.public_token}/messages/", headers={"X-Visitor-Token": token}
    )
    assert "Sure, which day suits you?" in history.text
    assert "Can I change my delivery day?" in history.text


def test_another_inbox_conversation_is_a_404_on_the_real_server(live_app, transactional_db):
    _users, widget = load_demo_data()
    conversation_id = (
        Message.objects.filter(inbox=widget).values_list("conversation_id", flat=True).first()
    )
    outsider = signed_in_client(live_app, "agent2@example.com")
    assert outsider.get(f"/conversations/{conversation_id}/").status_code == 404
    assert (
        outsider.post(
            f"/conversations/{conversation_id}/reply/",
            data={"body": "not mine"},
            headers={"X-CSRFToken": outsider.cookies["csrftoken"]},
        ).status_code
        == 404
    )
    assert not Message.objects.filter(body="not mine").exists()
