"""`<option>` lists built in one pass, for selects that list every agent."""

from django import template
from django.utils.html import format_html_join

register = template.Library()


@register.simple_tag
def options(pairs):
    """One escaped `<option value="…">…</option>` per (value, label) pair."""
    return format_html_join("", '<option value="{}">{}</option>', pairs)
