"""The one webhook endpoint every provider posts to: /webhooks/<kind>/<inbox token>/.

It checks the provider's signature on the raw bytes, stores the delivery and answers at
once; a task applies it (see inbox/inbound.py). Answers, so the provider knows what to do:

- 200 — stored (or a repeat of a stored delivery): do not send it again;
- 403 — missing or wrong signature: nothing stored;
- 404 — no such inbox;  413 — body over WEBHOOK_MAX_BODY_BYTES;
- 503 — the database is unavailable: nothing stored, the provider retries later.
"""

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from inbox.inbound import accept_delivery
from inbox.models import Inbox
from inbox.providers import adapter_for
from inbox.providers.base import SignatureInvalid

logger = logging.getLogger(__name__)


def _text(status, text):
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@login_not_required
def provider_webhook(request, kind, token):
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    try:
        inbox = Inbox.objects.filter(kind=kind, public_token=token, is_active=True).first()
    except DatabaseError:
        logger.exception("Webhook for %s: database unavailable", kind)
        return _text(503, "Temporarily unavailable, try again later.")
    if inbox is None:
        return _text(404, "No such inbox.")
    adapter = adapter_for(inbox)
    if request.method == "GET":
        answer = adapter.handshake(request)
        return answer if answer is not None else HttpResponseNotAllowed(["POST"])

    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.WEBHOOK_MAX_BODY_BYTES:
        return _text(413, "The delivery is too large.")
    try:
        body = request.body
    except RequestDataTooBig:
        return _text(413, "The delivery is too large.")
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        return _text(413, "The delivery is too large.")
    try:
        adapter.verify_request(request, body)
    except SignatureInvalid:
        return _text(403, "The signature does not match.")

    content_type = request.content_type or ""
    try:
        accept_delivery(
            inbox,
            body=body,
            content_type=content_type,
            delivery_key=adapter.delivery_key(body, content_type),
        )
    except DatabaseError:
        logger.exception("Webhook for %s: could not store the delivery", inbox)
        return _text(503, "Temporarily unavailable, try again later.")
    payload, response_type = adapter.webhook_response()
    return HttpResponse(payload, status=200, content_type=response_type)
