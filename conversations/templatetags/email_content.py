"""The formatted version of an e-mail, as an agent may see it.

The HTML is sanitised again at every render with the e-mail channel's allow-list (so a
stored message benefits from today's rules), then inline images (`cid:` sources) are
pointed at the message's own stored attachments, which are served after the access check.
"""

import re

from django import template
from django.urls import reverse
from django.utils.safestring import mark_safe

from inbox.providers.email_html import sanitize_email_html

register = template.Library()

_CID_SOURCE = re.compile(r'src="cid:([^"]*)"')


@register.filter
def email_html(message):
    html = (message.content_attributes or {}).get("html") or ""
    if not html:
        return ""
    cleaned = sanitize_email_html(html)
    inline = {}
    for attachment in message.files:
        if attachment.provider_ref.startswith("cid:") and attachment.file:
            content_id = attachment.provider_ref[4:].strip("<>")
            inline[content_id] = reverse("conversations:attachment", args=[attachment.pk])

    def point_at_attachment(match):
        url = inline.get(match.group(1).strip("<>"))
        # A cid with no stored image would be fetched from nowhere: leave no source at all.
        return f'src="{url}"' if url else 'src=""'

    # Safe: the sanitiser's output, with sources replaced by URLs we reversed ourselves.
    return mark_safe(_CID_SOURCE.sub(point_at_attachment, cleaned))  # noqa: S308
