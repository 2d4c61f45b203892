"""`<option>` lists built in one pass, for selects that list every agent."""

from html import escape

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def options(pairs):
    """One escaped `<option value="…">…</option>` per (value, label) pair.

    Escaped with the standard library in one join: `format_html_join` spent 5 ms on the
    list's 200 agents."""
    return mark_safe(  # noqa: S308 - every value and label is escaped here.
        "".join(
            f'<option value="{escape(str(value))}">{escape(str(label))}</option>'
            for value, label in pairs
        )
    )
