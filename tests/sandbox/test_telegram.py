"""The sandbox speaks the Telegram Bot API as PROVIDERS.md describes it."""

import asyncio
import json
import threading
import time

import httpx
import pytest
from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter

BOT_TOKEN = "123456789:AAHsandboxTokenForSwitchboardTests_x"
CHAT_ID = 555001


@pytest.fixture
def bot_account(sandbox):
    account = sandbox.add_telegram(BOT_TOKEN, username="switchboard_help_bot")
    sandbox.telegram.add_chat(BOT_TOKEN, CHAT_ID, first_name="Ana")
    return account


@pytest.fixture
def api(sandbox, bot_account):
    with httpx.Client(base_url=f"{sandbox.url}/telegram/bot{BOT_TOKEN}") as client:
        yield client


def sdk_bot(sandbox):
    return Bot(
        BOT_TOKEN,
        base_url=f"{sandbox.url}/telegram/bot",
        base_file_url=f"{sandbox.url}/telegram/file/bot",
    )


def test_python_telegram_bot_gets_me_sends_text_and_a_photo_and_downloads_it(sandbox, bot_account):
    async def scenario():
        async with sdk_bot(sandbox) as bot:
            me = await bot.get_me()
            text = await bot.send_message(CHAT_ID, "Hola Ana")
            photo = await bot.send_photo(CHAT_ID, b"\x89PNG sandbox", caption="the receipt")
            file = await bot.get_file(photo.photo[-1].file_id)
            content = await file.download_as_bytearray()
            return me, text, photo, file, bytes(content)

    me, text, photo, file, content = asyncio.run(scenario())

    assert me.username == "switchboard_help_bot"
    assert me.is_bot
    assert text.text == "Hola Ana"
    assert text.chat.id == CHAT_ID
    assert text.from_user.id == 123456789
    assert photo.caption == "the receipt"
    assert photo.message_id == text.message_id + 1
    assert file.file_path.endswith("/photos/file_1.jpg")
    assert content == b"\x89PNG sandbox"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_python_telegram_bot_sees_the_errors_it_expects(sandbox, bot_account):
    sandbox.telegram.block(BOT_TOKEN, 777)
    sandbox.telegram.add_chat(BOT_TOKEN, 778)
    sandbox.telegram.block(BOT_TOKEN, 778)

    async def scenario():
        async with sdk_bot(sandbox) as bot:
            with pytest.raises(BadRequest, match="Chat not found"):
                await bot.send_message(404404, "anyone?")
            with pytest.raises(Forbidden, match="blocked"):
                await bot.send_message(778, "hi")
            sandbox.queue_fault("telegram", "429", retry_after=7)
            with pytest.raises(RetryAfter) as raised:
                await bot.send_message(CHAT_ID, "fast")
            return str(raised.value)

    assert "Retry in 7" in asyncio.run(scenario())


def test_a_bad_token_is_401_unauthorized(sandbox, bot_account):
    response = httpx.post(f"{sandbox.url}/telegram/bot1:wrong/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


def test_send_message_takes_json_or_form_and_checks_the_chat_and_text(api):
    as_json = api.post("/sendMessage", json={"chat_id": CHAT_ID, "text": "json"})
    as_form = api.post("/sendMessage", data={"chat_id": str(CHAT_ID), "text": "form"})
    assert as_json.json()["result"]["text"] == "json"
    assert as_form.json()["result"]["text"] == "form"
    assert as_form.json()["result"]["message_id"] == as_json.json()["result"]["message_id"] + 1

    unknown = api.post("/sendMessage", json={"chat_id": 42, "text": "x"})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: chat not found",
    }
    empty = api.post("/sendMessage", json={"chat_id": CHAT_ID, "text": ""})
    assert empty.json()["description"] == "Bad Request: message text is empty"
    assert api.post("/noSuchMethod").status_code == 404


def test_a_reply_names_the_message_it_answers(api):
    first = api.post("/sendMessage", json={"chat_id": CHAT_ID, "text": "one"}).json()["result"]
    reply = api.post(
        "/sendMessage",
        json={"chat_id": CHAT_ID, "text": "two", "reply_to_message_id": first["message_id"]},
    )
    assert reply.json()["result"]["reply_to_message"]["message_id"] == first["message_id"]
    missing = api.post(
        "/sendMessage", json={"chat_id": CHAT_ID, "text": "x", "reply_to_message_id": 999}
    )
    assert missing.json()["description"] == "Bad Request: message to be replied not found"


def test_files_are_sent_by_upload_url_or_file_id(api, sandbox):
    _, url = sandbox.host_media(b"%PDF-1.4", "application/pdf", "invoice.pdf")
    by_url = api.post("/sendDocument", json={"chat_id": CHAT_ID, "document": url})
    document = by_url.json()["result"]["document"]
    assert document["file_name"] == "invoice.pdf"
    assert document["mime_type"] == "application/pdf"

    by_id = api.post("/sendDocument", json={"chat_id": CHAT_ID, "document": document["file_id"]})
    assert by_id.json()["result"]["document"]["file_id"] == document["file_id"]

    voice = api.post(
        "/sendVoice",
        data={"chat_id": str(CHAT_ID)},
        files={"voice": ("note.ogg", b"OggS", "audio/ogg")},
    )
    assert voice.json()["result"]["voice"]["mime_type"] == "audio/ogg"

    wrong = api.post("/sendPhoto", json={"chat_id": CHAT_ID, "photo": "no-such-file"})
    assert wrong.json()["description"] == ("Bad Request: wrong file identifier/HTTP URL specified")
    dead = api.post("/sendPhoto", json={"chat_id": CHAT_ID, "photo": url + "/gone"})
    assert dead.json()["description"] == "Bad Request: failed to get HTTP URL content"

    path = api.post("/getFile", json={"file_id": document["file_id"]}).json()["result"]
    download = httpx.get(f"{sandbox.url}/telegram/file/bot{BOT_TOKEN}/{path['file_path']}")
    assert download.content == b"%PDF-1.4"


def test_without_a_webhook_customer_messages_wait_for_get_updates(sandbox, api):
    sandbox.telegram_customer_writes(BOT_TOKEN, 9001, "hola", first_name="Bea")
    sandbox.telegram_customer_writes(BOT_TOKEN, 9001, photo=b"JPEG")

    updates = api.post("/getUpdates", json={"timeout": 0}).json()["result"]
    assert [u["message"].get("text") for u in updates] == ["hola", None]
    assert updates[0]["message"]["from"]["first_name"] == "Bea"
    assert updates[0]["message"]["chat"] == {"id": 9001, "type": "private", "first_name": "Bea"}
    assert updates[1]["message"]["photo"][-1]["file_id"]
    assert updates[1]["update_id"] == updates[0]["update_id"] + 1

    after = api.post("/getUpdates", json={"offset": updates[-1]["update_id"] + 1}).json()
    assert after["result"] == []
    # The chat is known now: the bot may answer it.
    assert api.post("/sendMessage", json={"chat_id": 9001, "text": "hi"}).json()["ok"]


def test_get_updates_long_polls_until_an_update_arrives(sandbox, api):
    def write_soon():
        time.sleep(0.3)
        sandbox.telegram_customer_writes(BOT_TOKEN, 9002, "late")

    threading.Thread(target=write_soon).start()
    started = time.monotonic()
    updates = api.get("/getUpdates", params={"timeout": 5}, timeout=10).json()["result"]
    assert [u["message"]["text"] for u in updates] == ["late"]
    assert time.monotonic() - started < 3


def test_with_a_webhook_customer_messages_are_posted_with_the_secret_token(sandbox, api, receiver):
    set_hook = api.post(
        "/setWebhook", data={"url": f"{receiver.url}/tg/", "secret_token": "s3cret-Token_1"}
    )
    assert set_hook.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    info = api.get("/getWebhookInfo").json()["result"]
    assert info["url"] == f"{receiver.url}/tg/"

    response = sandbox.telegram_customer_writes(BOT_TOKEN, CHAT_ID, "hola")
    assert response.status_code == 200
    [post] = receiver.posts
    assert post["headers"]["X-Telegram-Bot-Api-Secret-Token"] == "s3cret-Token_1"
    update = json.loads(post["body"])
    assert update["message"]["text"] == "hola"

    conflict = api.post("/getUpdates")
    assert conflict.status_code == 409
    bad_secret = api.post("/setWebhook", data={"url": receiver.url, "secret_token": "no spaces"})
    assert bad_secret.status_code == 400
    assert api.post("/deleteWebhook").json()["result"] is True
    assert api.post("/getUpdates").json()["ok"] is True
