"""The hot partials, rendered through `conversations.fragments`, which reuses a rendering
while what it is made of is unchanged."""

from django import template
from django.utils.safestring import mark_safe

from conversations import fragments

register = template.Library()


@register.simple_tag
def conversation_rows(rows):
    """Every row (`fragments.row_values`) of the list, in order."""
    return mark_safe("".join(fragments.conversation_rows(rows)))  # noqa: S308 - rendered.
