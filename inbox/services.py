"""Actions on the signed-in user's own account. Services are the only writers."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import capfirst
from django.utils.translation import get_language_info
from django.utils.translation import gettext as _


def language_codes():
    return [code for code, _name in settings.LANGUAGES]


@transaction.atomic
def set_preferences(user, *, language):
    """The user chose the language Switchboard speaks to them in."""
    if language not in language_codes():
        # Each language in its own name: someone lost in a foreign one still finds theirs.
        names = ", ".join(
            capfirst(get_language_info(code)["name_local"]) for code in language_codes()
        )
        raise ValidationError(
            _("Switchboard does not speak that language. Choose one of: %(languages)s."),
            params={"languages": names},
        )
    user.language = language
    user.save(update_fields=["language"])
    return user
