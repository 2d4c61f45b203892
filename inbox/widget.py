"""The website widget channel: the script host sites embed, and the visitor's endpoints.

The widget page runs in a cross-site iframe, where cookies are third-party and blocked.
A visitor is therefore identified by a signed token that `widget.js` keeps in the host
page's localStorage and hands to the iframe; the iframe sends it in a header. Requests
carry no cookies, so there is no CSRF to forge, and their Origin must be PUBLIC_URL's.
"""

import hashlib
import hmac
import json
import uuid
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.models import ContactIdentity
from contacts.services import get_or_create_identity, update_contact_details
from conversations import attachments
from conversations import services as conversation_services
from conversations.access import access_visitor_attachment
from conversations.models import Message, MessageKind, files_in_order
from inbox.models import Inbox, InboxKind

TOKEN_SALT = "switchboard.widget.visitor"  # noqa: S105 - a signing namespace
TOKEN_HEADER = "X-Visitor-Token"  # noqa: S105 - a header name


def sign_visitor_token(identity):
    return signing.dumps({"identity": identity.pk, "inbox": identity.inbox_id}, salt=TOKEN_SALT)


def identity_from_token(inbox_token, token):
    """The visitor's identity if the token is genuine and belongs to this inbox, else None."""
    if not token or not isinstance(token, str):
        return None
    try:
        data = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    return (
        ContactIdentity.objects.select_related("contact", "inbox")
        .filter(
            pk=data.get("identity"),
            inbox_id=data.get("inbox"),
            inbox__public_token=inbox_token,
            inbox__is_active=True,
        )
        .first()
    )


def widget_inbox(token):
    inbox = Inbox.objects.filter(
        public_token=token, kind=InboxKind.WEB_WIDGET, is_active=True
    ).first()
    if inbox is None:
        raise Http404("No such widget.")
    return inbox


def allowed_sites(inbox):
    return [site.rstrip("/") for site in inbox.provider_config.get("allowed_sites", []) if site]


def error(message, status):
    return JsonResponse({"error": message}, status=status)


def visitor_endpoint(view):
    """Check Origin and the visitor token; pass the inbox and the visitor's identity on."""

    @wraps(view)
    def wrapper(request, inbox_token, *args, **kwargs):
        inbox = widget_inbox(inbox_token)
        if request.method != "GET" and request.headers.get("Origin") != settings.PUBLIC_ORIGIN:
            return error(_("Requests must come from the Switchboard widget."), 403)
        identity = identity_from_token(inbox_token, request.headers.get(TOKEN_HEADER))
        if identity is None:
            return error(_("Your chat session has expired. Reload the page to start again."), 401)
        return view(request, inbox, identity, *args, **kwargs)

    # No cookies are involved, so there is nothing for CSRF to protect: the signed
    # token in a header and the Origin check stand in for it.
    return csrf_exempt(login_not_required(wrapper))


@login_not_required
@require_GET
def widget_script(request):
    response = render(
        request,
        "widget/widget.js",
        {"public_url": settings.PUBLIC_URL},
        content_type="text/javascript; charset=utf-8",
    )
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@login_not_required
@xframe_options_exempt
@require_GET
def widget_page(request, inbox_token):
    inbox = widget_inbox(inbox_token)
    response = render(
        request,
        "widget/page.html",
        {
            "inbox": inbox,
            "greeting": inbox.provider_config.get("greeting", ""),
            "max_length": settings.WIDGET_MESSAGE_MAX_LENGTH,
            "attachment_accept": attachments.accept_attribute(),
        },
    )
    # Only the inbox's own sites may frame the widget; with none listed, any site may.
    response._csp_replace = {"frame-ancestors": allowed_sites(inbox) or ["*"]}
    return response


def _identity_validation(inbox, identifier, identifier_hash):
    """Check the host site's HMAC for a signed-in user; None means "not asked for"."""
    if not identifier:
        return None
    secret = inbox.provider_secrets.get("identity_secret", "")
    expected = hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()
    return bool(secret) and hmac.compare_digest(expected, str(identifier_hash or ""))


@csrf_exempt
@login_not_required
@require_POST
def create_session(request, inbox_token):
    """Start (or resume) a visitor's session. Answers with the signed visitor token."""
    inbox = widget_inbox(inbox_token)
    if request.headers.get("Origin") != settings.PUBLIC_ORIGIN:
        return error(_("Requests must come from the Switchboard widget."), 403)
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        return error(_("The request could not be read."), 400)
    if not isinstance(data, dict):
        return error(_("The request could not be read."), 400)
    site = str(data.get("site") or "").rstrip("/")
    sites = allowed_sites(inbox)
    if sites and site not in sites:
        return error(_("This chat is not available on this website."), 403)
    identifier = str(data.get("identifier") or "")[:200]
    verified = _identity_validation(inbox, identifier, data.get("identifier_hash"))
    if verified is False:
        return error(_("We could not verify who you are. You can still chat as a guest."), 403)
    existing = identity_from_token(inbox_token, data.get("token"))
    if existing is not None and not verified:
        return JsonResponse({"token": sign_visitor_token(existing)})
    external_id = f"user:{identifier}" if verified else f"visitor:{uuid.uuid4()}"
    identity, _created = get_or_create_identity(
        inbox, external_id, language=str(data.get("language") or "")[:8]
    )
    return JsonResponse({"token": sign_visitor_token(identity)})


@visitor_endpoint
@require_http_methods(["GET", "POST"])
def visitor_messages(request, inbox, identity):
    """GET: the visitor's history. POST: the visitor writes a message."""
    if request.method == "POST":
        body = (request.POST.get("body") or "").strip()
        files = request.FILES.getlist("files")
        if not body and not files:
            return error(_("Write a message before sending."), 400)
        if len(body) > settings.WIDGET_MESSAGE_MAX_LENGTH:
            return error(
                _("Your message is too long (at most %(max)s characters).")
                % {"max": settings.WIDGET_MESSAGE_MAX_LENGTH},
                413,
            )
        try:
            result = conversation_services.record_inbound_message(
                inbox, identity, body=body, files=files
            )
        except conversation_services.ActionRefused as refusal:
            return error(refusal.message, 422)
        return render(request, "widget/partials/message_oob.html", {"message": result.message})
    messages = (
        Message.objects.filter(
            conversation__contact_identity=identity,
            kind__in=(MessageKind.TEXT, MessageKind.TEMPLATE),
        )
        .exclude(direction="outbound", status__in=("queued", "sending"))
        .select_related("author")
        .prefetch_related(files_in_order())
        .order_by("-pk")[:200]
    )
    from channels_app.models import LiveEvent

    return render(
        request,
        "widget/partials/history.html",
        {
            "messages": reversed(list(messages)),
            "last_event_id": LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
            or 0,
        },
    )


@visitor_endpoint
@require_GET
def visitor_attachment(request, inbox, identity, pk):
    """A file of the visitor's own conversation, fetched by the widget with the token header.

    Only files the visitor can see in their history: never a private note's, never
    another visitor's (both 404). The widget turns the answer into an object URL.
    """
    response = attachments.file_response(access_visitor_attachment(identity, pk))
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@visitor_endpoint
@require_POST
def visitor_profile(request, inbox, identity):
    name = (request.POST.get("name") or "").strip()[:200]
    email = (request.POST.get("email") or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            return error(_("“%(email)s” is not an e-mail address.") % {"email": email}, 400)
    update_contact_details(identity.contact, name=name or None, email=email or None)
    return HttpResponse(status=204)


@login_not_required
@require_GET
def demo_page(request):
    inbox = Inbox.objects.filter(kind=InboxKind.WEB_WIDGET, is_active=True).order_by("pk").first()
    if inbox is None:
        raise Http404("No website widget inbox is set up.")
    response = render(
        request, "widget/demo.html", {"inbox": inbox, "public_url": settings.PUBLIC_URL}
    )
    # The demo page is a stand-in for a customer's own website, which embeds our script.
    response._csp_update = {"script-src": [settings.PUBLIC_ORIGIN]}
    return response
