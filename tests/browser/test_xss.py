"""In a real browser, a customer's hostile text is shown as text and never runs."""

import httpx
from playwright.sync_api import expect

PAYLOAD = "<img src=x onerror=\"window.__xss=1;alert('xss')\"> Zed"
NAME = "<svg onload=\"window.__xss=2;alert('name')\">Mallory"
FILE_NAME = '"><img src=x onerror=window.__xss=3>.txt'
LIVE = "<script>window.__xss=4;alert('live')</script> later"


def hostile_visitor(live_app, widget):
    client = httpx.Client(base_url=live_app.url, headers={"Origin": live_app.url}, timeout=10)
    token = client.post(f"/widget/{widget.public_token}/sessions/", json={}).json()["token"]
    headers = {"X-Visitor-Token": token}
    base = f"/widget/{widget.public_token}"
    assert client.post(f"{base}/profile/", data={"name": NAME}, headers=headers).status_code == 204

    def say(text, files=None):
        response = client.post(
            f"{base}/messages/", data={"body": text}, files=files, headers=headers
        )
        assert response.status_code == 200, response.text

    return say


def test_hostile_customer_text_is_shown_as_text_and_never_runs(demo, live_app, page, sign_in):
    _users, widget = demo
    say = hostile_visitor(live_app, widget)
    say(PAYLOAD, files={"files": (FILE_NAME, b"hello", "text/plain")})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script("window.__xss = undefined;")

    sign_in(page, "agent@example.com")
    page.locator("[data-view-key='all']").click()
    row = page.locator(".conv-row", has_text="Zed")
    expect(row).to_contain_text(PAYLOAD.split(" Zed")[0])
    row.get_by_role("link").click()
    thread = page.locator("#thread")
    expect(thread).to_contain_text(PAYLOAD)
    expect(thread).to_contain_text("onerror=window.__xss=3")
    expect(page.get_by_text("Mallory").first).to_be_visible()
    expect(page.locator("body")).to_contain_text(NAME)

    say(LIVE)  # pushed over the websocket into the open thread and the list
    expect(thread).to_contain_text(LIVE)

    assert page.evaluate("window.__xss") is None
    assert dialogs == []
