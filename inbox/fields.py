"""A JSON field whose value is encrypted at rest with FIELD_ENCRYPTION_KEY (Fernet)."""

import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def _fernet():
    try:
        return Fernet(settings.FIELD_ENCRYPTION_KEY.encode())
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be a url-safe base64 key of 32 bytes; make one with "
            "python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from exc


class EncryptedJSONField(models.TextField):
    """Stores a dict as a Fernet token; reads give the dict back.

    Nothing in the database, a dump or a backup shows the secrets in clear.
    """

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return {}
        try:
            return json.loads(_fernet().decrypt(value.encode()))
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                "Provider secrets cannot be decrypted: FIELD_ENCRYPTION_KEY has changed."
            ) from exc

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        return self.from_db_value(value, None, None)

    def get_prep_value(self, value):
        value = value or {}
        return _fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()

    def value_to_string(self, obj):
        return ""
