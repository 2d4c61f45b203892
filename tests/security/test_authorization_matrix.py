"""Every route, asked by every role: the expected answer and nothing the role may not see.

The routes come from the URL configuration itself, so a new view without an entry in
EXPECTATIONS fails `test_every_route_has_an_expectation`. Third-party routes (the admin
site and allauth's account pages) are covered by prefix in THIRD_PARTY, each with a
stated expectation, and still requested one by one.

Roles: an agent in inbox A, an agent of inbox B only, a supervisor, an admin, anonymous,
and on the widget's endpoints the visitor who owns the data (A1) and another visitor
session of the same inbox (A2). Requests name objects of inbox A (visitor A1's).
"""

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern

from channels_app.routing import websocket_urlpatterns
from tests.security.conftest import AGENT_ONLY, MARK_A, MARK_A2, MARK_B, SECRET

AGENT_ROLES = ("agent_in", "agent_out", "supervisor", "admin", "anonymous")
VISITOR_ROLES = ("visitor_own", "visitor_other")

# What each role must never see in any answer.
FORBIDDEN = {
    "agent_in": (MARK_B, SECRET),
    "agent_out": (MARK_A, MARK_A2, SECRET),
    "supervisor": (SECRET,),
    "admin": (SECRET,),
    "anonymous": (MARK_A, MARK_A2, MARK_B, AGENT_ONLY, SECRET),
    "visitor_own": (MARK_A2, MARK_B, AGENT_ONLY, SECRET),
    "visitor_other": (MARK_A, MARK_B, AGENT_ONLY, SECRET),
}
EVERYTHING = (MARK_A, MARK_A2, MARK_B, AGENT_ONLY, SECRET)

LOGIN = 302  # LoginRequiredMiddleware sends anonymous people to the sign-in page


def on_a(allowed=(200,), *, out=(404,)):
    """An object of inbox A: its member, supervisors and admins; 404 for anyone else."""
    return {
        "agent_in": allowed,
        "agent_out": out,
        "supervisor": allowed,
        "admin": allowed,
        "anonymous": (LOGIN,),
    }


def signed_in(allowed=(200,)):
    return {role: allowed for role in AGENT_ROLES[:4]} | {"anonymous": (LOGIN,)}


def everyone(allowed):
    return {role: allowed for role in AGENT_ROLES + VISITOR_ROLES}


def visitor_only(own=(200,), other=(200,)):
    """Widget endpoints: a valid visitor token is needed; the signed-in agents have none."""
    return everyone((401,)) | {"visitor_own": own, "visitor_other": other}


@dataclass
class Ask:
    method: str
    kwargs: object = lambda w: {}  # world -> URL kwargs
    data: object = lambda w: {}  # world -> request data
    query: str = ""
    json: bool = False
    expect: dict = field(default_factory=dict)


def conv(w):
    return {"pk": w.a.conversation.pk}


def contact(w):
    return {"pk": w.a.identity.contact_id}


def widget(w):
    return {"inbox_token": w.a.inbox.public_token}


EXPECTATIONS = {
    "conversations:inbox": [Ask("GET", query="view=all", expect=signed_in())],
    "conversations:list_page": [Ask("GET", query="view=all", expect=signed_in())],
    "conversations:bulk": [
        Ask(
            "POST",
            data=lambda w: {"conversations": [w.a.conversation.pk], "status": "pending"},
            expect=on_a(out=(400,)),
        )
    ],
    "conversations:detail": [Ask("GET", conv, expect=on_a())],
    "conversations:older_messages": [Ask("GET", conv, query="before=999999999", expect=on_a())],
    "conversations:reply": [Ask("POST", conv, lambda w: {"body": "a reply"}, expect=on_a())],
    "conversations:send_template": [
        # A website widget has no templates: the conversation is checked first.
        Ask("POST", lambda w: {**conv(w), "template_pk": 999999}, expect=on_a((404,)))
    ],
    "conversations:retry_message": [
        Ask(
            "POST",
            lambda w: {**conv(w), "message_pk": w.a.message.pk},
            expect=on_a((400,)),  # an inbound message cannot be retried
        )
    ],
    "conversations:assign": [Ask("POST", conv, lambda w: {"assignee": ""}, expect=on_a())],
    "conversations:status": [Ask("POST", conv, lambda w: {"status": "open"}, expect=on_a())],
    "conversations:priority": [Ask("POST", conv, lambda w: {"priority": "2"}, expect=on_a())],
    "conversations:team": [Ask("POST", conv, lambda w: {"team": ""}, expect=on_a())],
    "conversations:labels": [
        Ask("POST", conv, lambda w: {"label": w.label.pk}, expect=on_a()),
    ],
    "conversations:save_canned": [
        Ask(
            "POST",
            conv,
            lambda w: {"shortcut": "thanks", "title": "Thanks", "body": "Thank you!"},
            expect=on_a((200, 422)),
        )
    ],
    "conversations:search": [Ask("GET", query="q=sharedword", expect=signed_in())],
    "conversations:attachment": [Ask("GET", lambda w: {"pk": w.a.attachment.pk}, expect=on_a())],
    "conversations:signed_attachment": [
        Ask("GET", lambda w: {"token": f"{w.a.attachment.pk}:forged:sig"}, expect=everyone((403,)))
    ],
    "contacts:edit_detail": [
        Ask("POST", contact, lambda w: {"field": "name", "value": f"{MARK_A} new"}, expect=on_a())
    ],
    "contacts:set_attribute": [
        Ask("POST", contact, lambda w: {"key": "plan", "value": "gold"}, expect=on_a())
    ],
    "contacts:add_note": [Ask("POST", contact, lambda w: {"body": "call back"}, expect=on_a())],
    "contacts:change_label": [
        Ask("POST", contact, lambda w: {"label": str(w.label.pk)}, expect=on_a())
    ],
    "availability": [
        Ask("POST", data=lambda w: {"availability": "online"}, expect=signed_in((204,)))
    ],
    "notifications": [Ask("POST", data=lambda w: {"enabled": "on"}, expect=signed_in((204,)))],
    "language": [Ask("POST", data=lambda w: {"language": "en"}, expect=everyone((302,)))],
    # Asked by the workspace's script, not by a person: without a session (visitors have
    # none) the answer is 401, never the sign-in page.
    "session": [Ask("GET", expect=everyone((401,)) | signed_in((204,)) | {"anonymous": (401,)})],
    "favicon.ico": [Ask("GET", expect=everyone((301,)))],
    "provider_webhook": [
        Ask(
            "GET",
            lambda w: {"kind": "whatsapp", "token": w.whatsapp.public_token},
            query="hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
            expect=everyone((403,)),
        ),
        Ask(
            "POST",
            lambda w: {"kind": "whatsapp", "token": w.whatsapp.public_token},
            lambda w: {"entry": "[]"},
            expect=everyone((403,)),
        ),
        Ask("POST", lambda w: {"kind": "whatsapp", "token": "nope"}, expect=everyone((404,))),
    ],
    "widget_script": [Ask("GET", expect=everyone((200,)))],
    "widget_demo": [Ask("GET", expect=everyone((200,)))],
    "widget_page": [Ask("GET", widget, expect=everyone((200,)))],
    "widget_session": [Ask("POST", widget, json=True, expect=everyone((200,)))],
    "widget_messages": [
        Ask("GET", widget, expect=visitor_only()),
        Ask("POST", widget, lambda w: {"body": "hi there"}, expect=visitor_only()),
    ],
    "widget_profile": [
        Ask("POST", widget, lambda w: {"name": "Vee"}, expect=visitor_only((204,), (204,))),
    ],
    "widget_attachment": [
        Ask(
            "GET",
            lambda w: {**widget(w), "pk": w.a.attachment.pk},
            expect=visitor_only((200,), (404,)),
        )
    ],
}

# Third-party routes, by path prefix, each with what must hold for every one of them.
THIRD_PARTY = {
    # The admin site: only admins get in; everyone else is sent to its sign-in page.
    # Admins may see every inbox's data, but never a provider secret.
    "admin/": "admin",
    # allauth's account pages: they show the person's own account only, never any
    # conversation data, to whoever asks.
    "accounts/": "account",
}

# Regex routes need a sample path (the others are filled in from their converters).
SAMPLE_PATHS = {
    r"admin/^(?P<app_label>auth|account|mfa|inbox|contacts|conversations|channels_app)/$": (
        "/admin/inbox/"
    ),
    "admin/(?P<url>.*)$": "/admin/no/such/page/",
    r"accounts/^confirm-email/(?P<key>[-:\w]+)/$": "/accounts/confirm-email/abc/",
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": (
        "/accounts/password/reset/key/1-abc/"
    ),
}

WEBSOCKET_EXPECTATIONS = {
    # Each is proven by the tests in test_websockets.py named here.
    "ws/agent/": (
        "test_agent_socket_never_streams_a_conversation_of_another_inbox",
        "test_a_socket_from_a_foreign_origin_is_refused",
    ),
    "ws/widget/<str:inbox_token>/": (
        "test_visitor_socket_gets_nothing_of_another_session_nor_agent_only_events",
        "test_a_socket_from_a_foreign_origin_is_refused",
    ),
}


@dataclass(frozen=True)
class Route:
    key: str  # the URL name, or the route itself for unnamed ones
    route: str
    pattern: object


def walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            key = f"{namespace}{entry.name}" if entry.name else route
            yield Route(key, route, entry)


def every_route():
    return list(walk(get_resolver().url_patterns))


def third_party_rule(route):
    for prefix, rule in THIRD_PARTY.items():
        if route.route.startswith(prefix):
            return rule
    return None


def test_every_route_has_an_expectation():
    missing = [
        f"{r.key} ({r.route})"
        for r in every_route()
        if r.key not in EXPECTATIONS and third_party_rule(r) is None
    ]
    assert not missing, "Routes without an expectation in the security matrix: " + ", ".join(
        missing
    )


def test_every_expectation_names_a_route_that_exists():
    keys = {r.key for r in every_route()}
    assert not set(EXPECTATIONS) - keys


def test_every_websocket_route_has_an_expectation():
    from tests.security import test_websockets

    routes = {str(p.pattern) for p in websocket_urlpatterns}
    assert routes == set(WEBSOCKET_EXPECTATIONS)
    for names in WEBSOCKET_EXPECTATIONS.values():
        for name in names:
            assert callable(getattr(test_websockets, name))


# -- making requests -----------------------------------------------------------------------

CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def path_for(route, kwargs):
    if route.route in SAMPLE_PATHS:
        return SAMPLE_PATHS[route.route]
    assert isinstance(route.pattern.pattern, RoutePattern), route.route

    def fill(match):
        return str(kwargs.get(match.group(2), "1"))

    path = "/" + CONVERTER.sub(fill, route.route)
    assert resolve(path.split("?")[0]).route == route.route, path
    return path


def client_for(world, role):
    client = Client(raise_request_exception=True)
    if role in world.users:
        client.force_login(world.users[role])
    return client


def visitor_headers(world, role):
    headers = {"HTTP_ORIGIN": settings.PUBLIC_ORIGIN}
    if role == "visitor_own":
        headers["HTTP_X_VISITOR_TOKEN"] = world.token(world.a)
    elif role == "visitor_other":
        headers["HTTP_X_VISITOR_TOKEN"] = world.token(world.a2)
    return headers


def body_of(response):
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def ask(world, route, spec, role):
    client = client_for(world, role)
    path = path_for(route, spec.kwargs(world))
    if spec.query:
        path += "?" + spec.query
    headers = visitor_headers(world, role)
    if spec.method == "GET":
        response = client.get(path, **headers)
    elif spec.json:
        response = client.post(path, spec.data(world), content_type="application/json", **headers)
    else:
        response = client.post(path, spec.data(world), **headers)
    return response.status_code, body_of(response)


def leaks(body, forbidden):
    return [marker for marker in forbidden if marker in body]


def check(world, route, spec, role, expected, forbidden, problems):
    status, body = ask(world, route, spec, role)
    if status not in expected:
        problems.append(f"{spec.method} {route.key} as {role}: {status}, expected {expected}")
    leaked = leaks(body, forbidden)
    if leaked:
        problems.append(f"{spec.method} {route.key} as {role}: shows {leaked}")


def test_our_routes_answer_every_role_as_expected_and_show_nothing_forbidden(world):
    problems = []
    for route in every_route():
        for spec in EXPECTATIONS.get(route.key, ()):
            roles = AGENT_ROLES + (VISITOR_ROLES if route.key.startswith("widget_") else ())
            for role in roles:
                expected = spec.expect[role]
                check(world, route, spec, role, expected, FORBIDDEN[role], problems)
    assert not problems, "\n".join(problems)


def test_the_data_of_inbox_a_is_really_shown_to_those_who_may_see_it(world):
    # Without this the leak checks above could pass on pages that show nothing at all.
    for role in ("agent_in", "supervisor", "admin"):
        client = client_for(world, role)
        body = body_of(client.get(f"/conversations/{world.a.conversation.pk}/"))
        assert MARK_A in body, role
        assert AGENT_ONLY in body, role
        assert MARK_A in body_of(client.get("/search/?q=sharedword")), role
    own = Client().get(
        f"/widget/{world.a.inbox.public_token}/messages/", **visitor_headers(world, "visitor_own")
    )
    assert MARK_A in body_of(own)


def admin_kwargs(world, route):
    """The pk of a real object of the model a named admin route is about."""
    from django.contrib import admin

    name = route.key.removeprefix("admin:")
    for model in admin.site._registry:
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix):
            first = model._default_manager.order_by("pk").first()
            return {"object_id": first.pk if first else 1}
    return {}


def third_party_expectation(route, role):
    rule = third_party_rule(route)
    if rule == "admin":
        if route.key == "admin:login":
            return (302,) if role == "admin" else (200,)
        if role == "admin":
            # Never a server error; 403/404/405 where a page needs parameters, an object
            # that does not exist, or a POST (signing out).
            return (200, 302, 403, 404, 405)
        return (302,)
    return (200, 302, 404, 405)


def test_third_party_routes_keep_their_stated_expectation(world):
    problems = []
    for route in every_route():
        rule = third_party_rule(route)
        if rule is None:
            continue
        spec = Ask("GET", lambda w, route=route: admin_kwargs(w, route))
        # Inbox membership plays no part here: one agent stands for both.
        for role in ("agent_in", "supervisor", "admin", "anonymous"):
            expected = third_party_expectation(route, role)
            forbidden = FORBIDDEN[role] if rule == "admin" and role == "admin" else EVERYTHING
            check(world, route, spec, role, expected, forbidden, problems)
    assert not problems, "\n".join(problems)
