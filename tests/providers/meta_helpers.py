"""Deliveries built the way Meta builds them: escaped-unicode JSON, signed raw bytes."""

import hashlib
import hmac
import json

from django.test import RequestFactory


def meta_bytes(payload):
    return json.dumps(payload, ensure_ascii=True).encode()


def signature(app_secret, body):
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signed_post(body, header_value):
    headers = {} if header_value is None else {"X-Hub-Signature-256": header_value}
    return RequestFactory().post(
        "/webhooks/meta/", data=body, content_type="application/json", headers=headers
    )


def handshake_get(**params):
    return RequestFactory().get("/webhooks/meta/", {f"hub.{k}": v for k, v in params.items()})
