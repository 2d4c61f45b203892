"""Customer-controlled text never becomes markup, on any page or push.

Each payload of the corpus goes in as a customer's message, their contact name, an
attachment's file name, a contact note and an e-mail's HTML; then the workspace (list,
thread, contact panel), the search page, the partials and the live-event frames are
rendered. Every payload sets `window.__xss`, so an executable copy is easy to spot.
"""

from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from channels_app.events import frames_for
from channels_app.models import LiveEvent
from contacts.services import add_contact_note, get_or_create_identity
from conversations import services
from inbox.models import Inbox, InboxKind, Role, User

CORPUS = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=1>",
    '"><img src=x onerror="window.__xss=1">',
    "'><svg onload=window.__xss=1>",
    "<svg><script>window.__xss=1</script></svg>",
    '<a href="javascript:window.__xss=1">click</a>',
    "javascript:window.__xss=1",
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    '<div style="background:url(javascript:window.__xss=1)">x</div>',
    "<body onload=window.__xss=1>",
    "<details open ontoggle=window.__xss=1>",
    "</textarea><script>window.__xss=1</script>",
    "</title><script>window.__xss=1</script>",
    '" autofocus onfocus="window.__xss=1',
    "' onmouseover='window.__xss=1",
    "{{ 7|add:'__xss' }}{% now 'Y' %}",
    "{% include 'widget/widget.js' %}__xss",
    "${window.__xss=1}",
    "<scr<script>ipt>window.__xss=1</script>",
    "\u003cscript\u003ewindow.__xss=1\u003c/script\u003e",
    "＜script＞window.__xss=1＜/script＞",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=1>",
    "<!--<img src=x onerror=window.__xss=1>-->",
    "&lt;script&gt;window.__xss=1&lt;/script&gt;",
    "\u202e<img src=x onerror=window.__xss=1>",
]
# Quotes matter only inside a tag, which the scanner checks; in text they are harmless.
MARKUP = set("<>")
DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "body", "details"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "srcdoc", "style"}


class Scanner(HTMLParser):
    """Finds executable uses of the sentinel: handlers, scripts, javascript: URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = value or ""
            if "__xss" in name:
                self.problems.append(f"<{tag} {name}>")
            if name.startswith("on") and "__xss" in value:
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES and "__xss" in value:
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag in DANGEROUS_TAGS and any("__xss" in (v or "") for _n, v in attrs):
            self.problems.append(f"<{tag}>")
        self.in_script = tag == "script"

    def handle_endtag(self, tag):
        self.in_script = False

    def handle_data(self, data):
        if self.in_script and "__xss" in data:
            self.problems.append(f"<script>{data[:60]}")


def executable(html):
    scanner = Scanner()
    scanner.feed(html)
    return scanner.problems


def unescaped(html, payload):
    return bool(MARKUP & set(payload)) and payload in html


def assert_safe(html, where):
    problems = executable(html)
    raw = [p for p in CORPUS if unescaped(html, p)]
    assert not problems, f"{where}: {problems}"
    assert not raw, f"{where}: {raw}"
    assert "__xss" in html or where.startswith("frame"), f"{where} shows no payload at all"


@pytest.fixture
def hostile(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    inbox = Inbox.objects.create(name="Chat", kind=InboxKind.WEB_WIDGET)
    email = Inbox.objects.create(name="Mail", kind=InboxKind.EMAIL)
    agent = User.objects.create_user("a@example.test", "pw", display_name="Ana", role=Role.ADMIN)
    conversations = []
    for n, payload in enumerate(CORPUS):
        identity, _ = get_or_create_identity(inbox, f"visitor:{n}", name=payload[:200])
        upload = SimpleUploadedFile(f"{payload}.txt", b"hello", content_type="text/plain")
        message = services.record_inbound_message(
            inbox, identity, body=f"{payload} sharedword", files=[upload]
        ).message
        services.add_note(agent, message.conversation, f"note {payload}")
        add_contact_note(agent, identity.contact, f"contact note {payload}")
        mail_identity, _ = get_or_create_identity(email, f"m{n}@example.test", name=payload[:200])
        services.record_inbound_message(
            email,
            mail_identity,
            body="see html",
            external_id=f"mail-{n}",
            content_attributes={"html": f"<p>{payload}</p>", "subject": payload},
            start_new_thread=True,
        )
        conversations.append(message.conversation)
    return agent, conversations


def page(client, path, **headers):
    response = client.get(path, **headers)
    assert response.status_code == 200, path
    return response.content.decode()


def test_no_payload_runs_in_any_page_or_partial(hostile):
    agent, conversations = hostile
    client = Client()
    client.force_login(agent)
    assert_safe(page(client, "/?view=all"), "workspace")
    emails = list(conversations[0].__class__.objects.filter(channel="email"))
    for conversation in conversations + emails:
        path = f"/conversations/{conversation.pk}/"
        assert_safe(page(client, path), f"thread {conversation.pk}")
    for conversation in (conversations[0], emails[0]):
        path = f"/conversations/{conversation.pk}/"
        assert_safe(
            page(client, path, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="thread-pane"),
            f"thread partial {conversation.pk}",
        )
    assert_safe(
        page(client, "/?view=all", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="list-pane"), "list"
    )
    assert_safe(page(client, "/search/?q=sharedword"), "search")
    for payload in CORPUS:
        response = client.get("/search/", {"q": payload})
        assert response.status_code == 200
        html = response.content.decode()
        assert not executable(html), payload
        assert not unescaped(html, payload), payload
    assert_safe(
        page(client, "/search/?q=sharedword", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="thread-pane"),
        "search partial",
    )


@pytest.mark.usefixtures("listening_agents")
def test_no_payload_runs_in_any_live_event_frame(hostile):
    events = LiveEvent.objects.select_related("conversation__contact", "user").order_by("pk")
    assert events.exists()
    for event in events:
        for frame in frames_for(event):
            assert_safe(frame.html, f"frame {event.kind} {frame.group}")


def test_template_syntax_in_customer_text_is_shown_verbatim(hostile):
    agent, conversations = hostile
    client = Client()
    client.force_login(agent)
    html = page(client, f"/conversations/{conversations[15].pk}/")
    assert "{{ 7|add:&#x27;__xss&#x27; }}{% now &#x27;Y&#x27; %}" in html
