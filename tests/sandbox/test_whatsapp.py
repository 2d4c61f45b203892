"""The sandbox speaks the WhatsApp Cloud API as PROVIDERS.md describes it."""

import hashlib
import hmac
import json

import httpx
import pytest

PHONE_ID = "106540352242922"
WABA_ID = "102290129340398"
TOKEN = "EAAG-sandbox-token"
SECRET = "wa-app-secret"


def signature_is_valid(post, secret=SECRET):
    expected = "sha256=" + hmac.new(secret.encode(), post["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(post["headers"]["X-Hub-Signature-256"], expected)


@pytest.fixture
def account(sandbox, receiver):
    return sandbox.add_whatsapp(PHONE_ID, WABA_ID, TOKEN, SECRET, f"{receiver.url}/webhooks/wa/")


@pytest.fixture
def graph(sandbox, account):
    with httpx.Client(
        base_url=f"{sandbox.url}/graph/v21.0", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


def send_text(graph, body="hola", to="16505551234", **extra):
    return graph.post(
        f"/{PHONE_ID}/messages",
        json={"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}
        | extra,
    )


def test_text_send_answers_with_the_cloud_api_success_shape(graph):
    response = send_text(graph, to="+16505551234")

    assert response.status_code == 200
    data = response.json()
    assert data["messaging_product"] == "whatsapp"
    assert data["contacts"] == [{"input": "+16505551234", "wa_id": "16505551234"}]
    assert data["messages"][0]["id"].startswith("wamid.")


def test_any_graph_version_is_accepted(sandbox, account):
    response = httpx.post(
        f"{sandbox.url}/graph/v19.0/{PHONE_ID}/messages",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x"}},
    )
    assert response.status_code == 200


def test_sent_delivered_read_receipts_are_posted_signed_over_the_exact_bytes(graph, receiver):
    wamid = send_text(graph).json()["messages"][0]["id"]

    posts = receiver.wait_for(3)
    assert [p["path"] for p in posts] == ["/webhooks/wa/"] * 3
    statuses = []
    for post in posts:
        assert signature_is_valid(post)
        payload = json.loads(post["body"])
        assert post["body"] == json.dumps(payload, ensure_ascii=True).encode()
        assert payload["object"] == "whatsapp_business_account"
        assert payload["entry"][0]["id"] == WABA_ID
        value = payload["entry"][0]["changes"][0]["value"]
        assert value["metadata"]["phone_number_id"] == PHONE_ID
        status = value["statuses"][0]
        assert status["id"] == wamid
        assert status["recipient_id"] == "16505551234"
        statuses.append(status["status"])
    assert statuses == ["sent", "delivered", "read"]


def test_receipts_are_configurable_per_account(sandbox, receiver, graph):
    sandbox.add_whatsapp(
        PHONE_ID, WABA_ID, TOKEN, SECRET, f"{receiver.url}/wa/", receipts=("sent",)
    )
    send_text(graph)
    sandbox.wait_until_idle()
    assert len(receiver.posts) == 1


def test_a_bad_or_missing_token_is_refused_with_code_190(sandbox, account):
    url = f"{sandbox.url}/graph/v21.0/{PHONE_ID}/messages"
    message = {"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x"}}
    for headers in ({"Authorization": "Bearer wrong"}, {}):
        response = httpx.post(url, headers=headers, json=message)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 190
        assert response.json()["error"]["type"] == "OAuthException"
        assert "fbtrace_id" in response.json()["error"]


def test_an_unknown_phone_number_id_is_error_100(graph):
    response = graph.post(
        "/999999/messages",
        json={"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "x"}},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"to": "16505551234", "type": "text", "text": {"body": "x"}}, 100),
        ({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}, 100),
        ({"messaging_product": "whatsapp", "to": "abc", "text": {"body": "x"}}, 131009),
        ({"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": ""}}, 100),
        ({"messaging_product": "whatsapp", "to": "16505551234", "type": "image"}, 100),
        (
            {
                "messaging_product": "whatsapp",
                "to": "16505551234",
                "type": "image",
                "image": {"link": "https://x.test/a.jpg", "id": "1"},
            },
            100,
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": "16505551234",
                "text": {"body": "x"},
                "context": {"message_id": "not-a-wamid"},
            },
            100,
        ),
        ({"messaging_product": "whatsapp", "to": "1650555", "bogus": 1, "text": {}}, 100),
    ],
)
def test_a_malformed_send_is_refused_in_the_graph_error_envelope(graph, message, code):
    response = graph.post(f"/{PHONE_ID}/messages", json=message)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["error_data"]["messaging_product"] == "whatsapp"


def test_an_unsupported_message_type_is_131051(graph):
    response = graph.post(
        f"/{PHONE_ID}/messages",
        json={"messaging_product": "whatsapp", "to": "16505551234", "type": "hologram"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 131051


def test_a_reply_carries_the_context_message_id(graph):
    response = send_text(graph, context={"message_id": "wamid.HBgLMTY1MDU1NTEyMzQVAgA="})
    assert response.status_code == 200


def test_mark_as_read_answers_success(graph, receiver, sandbox):
    response = graph.post(
        f"/{PHONE_ID}/messages",
        json={"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.abc="},
    )
    assert response.json() == {"success": True}
    sandbox.wait_until_idle()
    assert receiver.posts == []


def template(name, code, *params):
    body = {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
    return {
        "messaging_product": "whatsapp",
        "to": "16505551234",
        "type": "template",
        "template": {"name": name, "language": {"code": code}, "components": [body]},
    }


def test_an_approved_template_with_the_right_parameters_is_sent(graph):
    response = graph.post(f"/{PHONE_ID}/messages", json=template("order_update", "es", "Ana", "7"))
    assert response.status_code == 200
    assert response.json()["messages"][0]["message_status"] == "accepted"


@pytest.mark.parametrize(
    ("name", "code", "params", "error"),
    [
        ("order_update", "en", ("Ana", "7"), 132001),
        ("nonexistent", "es", (), 132001),
        ("spring_sale", "en", ("Ana",), 132001),
        ("order_update", "es", ("Ana",), 132000),
    ],
)
def test_a_template_must_be_known_approved_in_that_language_with_its_parameter_count(
    graph, name, code, params, error
):
    response = graph.post(f"/{PHONE_ID}/messages", json=template(name, code, *params))
    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] == error


def test_templates_are_listed_page_by_page_following_paging_next(graph):
    page = graph.get(f"/{WABA_ID}/message_templates").json()
    names = [t["name"] for t in page["data"]]
    assert len(page["data"]) == 2
    while "next" in page.get("paging", {}):
        assert page["paging"]["next"].startswith("http://")
        page = graph.get(page["paging"]["next"]).json()
        names += [t["name"] for t in page["data"]]
    assert names == [
        "hello_world",
        "order_update",
        "appointment_reminder",
        "spring_sale",
        "old_offer",
    ]
    statuses = graph.get(f"/{WABA_ID}/message_templates", params={"status": "APPROVED"})
    assert {t["status"] for t in statuses.json()["data"]} == {"APPROVED"}


def test_uploaded_media_is_sent_by_id_and_downloaded_with_the_bearer(graph, sandbox):
    upload = graph.post(
        f"/{PHONE_ID}/media",
        data={"messaging_product": "whatsapp", "type": "image/png"},
        files={"file": ("pic.png", b"\x89PNG fake", "image/png")},
    )
    assert upload.status_code == 200
    media_id = upload.json()["id"]

    sent = graph.post(
        f"/{PHONE_ID}/messages",
        json={
            "messaging_product": "whatsapp",
            "to": "16505551234",
            "type": "image",
            "image": {"id": media_id, "caption": "look"},
        },
    )
    assert sent.status_code == 200

    info = graph.get(f"/{media_id}").json()
    assert info["mime_type"] == "image/png"
    assert info["sha256"] == hashlib.sha256(b"\x89PNG fake").hexdigest()
    assert info["file_size"] == len(b"\x89PNG fake")
    assert httpx.get(info["url"]).status_code == 401
    download = httpx.get(info["url"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert download.status_code == 200
    assert download.content == b"\x89PNG fake"


def test_a_media_url_expires_after_five_minutes(graph, sandbox):
    media_id, _ = sandbox.host_media(b"jpeg bytes", "image/jpeg", "a.jpg")
    url = graph.get(f"/{media_id}").json()["url"]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    sandbox.advance_clock(299)
    assert httpx.get(url, headers=auth).status_code == 200
    sandbox.advance_clock(2)
    assert httpx.get(url, headers=auth).status_code == 404
    fresh = graph.get(f"/{media_id}").json()["url"]
    assert httpx.get(fresh, headers=auth).content == b"jpeg bytes"


def test_an_upload_without_the_file_or_of_an_unknown_type_is_refused(graph):
    missing = graph.post(f"/{PHONE_ID}/media", files={"messaging_product": (None, "whatsapp")})
    assert missing.json()["error"]["code"] == 100
    odd = graph.post(
        f"/{PHONE_ID}/media",
        data={"messaging_product": "whatsapp", "type": "application/x-msdownload"},
        files={"file": ("a.exe", b"MZ", "application/x-msdownload")},
    )
    assert odd.json()["error"]["code"] == 131053


def test_a_media_link_that_does_not_answer_fails_later_as_a_failed_status(graph, sandbox, receiver):
    response = graph.post(
        f"/{PHONE_ID}/messages",
        json={
            "messaging_product": "whatsapp",
            "to": "16505551234",
            "type": "document",
            "document": {"link": f"{sandbox.url}/_media/missing/a.pdf", "filename": "a.pdf"},
        },
    )
    assert response.status_code == 200
    [post] = receiver.wait_for(1)
    status = json.loads(post["body"])["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status["status"] == "failed"
    assert status["errors"][0]["code"] == 131053


def test_free_form_text_after_the_24_hour_window_fails_with_131047(graph, sandbox, receiver):
    sandbox.whatsapp_customer_writes(PHONE_ID, "16505551234", "hola")
    sandbox.advance_clock(25 * 3600)
    send_text(graph)
    posts = receiver.wait_for(2)
    status = json.loads(posts[1]["body"])["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status["status"] == "failed"
    assert status["errors"][0]["code"] == 131047


def test_a_customer_message_is_posted_as_meta_posts_it(sandbox, receiver, account, graph):
    response = sandbox.whatsapp_customer_writes(
        PHONE_ID, "+16505551234", "mira", image=(b"JPEG", "image/jpeg"), name="Ana"
    )
    assert response.status_code == 200
    [post] = receiver.posts
    assert signature_is_valid(post)
    value = json.loads(post["body"])["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [{"profile": {"name": "Ana"}, "wa_id": "16505551234"}]
    message = value["messages"][0]
    assert message["from"] == "16505551234"
    assert message["id"].startswith("wamid.")
    assert message["type"] == "image"
    assert message["image"]["caption"] == "mira"
    info = graph.get(f"/{message['image']['id']}").json()
    download = httpx.get(info["url"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert download.content == b"JPEG"
