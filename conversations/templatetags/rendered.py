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


@register.simple_tag(takes_context=True)
def message_html(context, message):
    """One message of a thread (conversations/partials/message.html)."""
    # The language, time zone and URL prefix, looked up once for a thread's messages.
    if "rendered_in" not in context.render_context:
        context.render_context["rendered_in"] = fragments.rendered_in()
    return fragments.message_html(message, context.render_context["rendered_in"])
