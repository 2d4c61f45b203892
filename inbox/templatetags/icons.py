"""Inline SVG icons, rendered once per drawing and reused.

`{% icon "status" status=message.status %}` prints templates/icons/status.svg for that
status. An icon is a pure function of its name and arguments (no text, no user data), so
each variant is rendered once per process instead of through an include on every row and
message.
"""

from functools import lru_cache

from django import template
from django.template.loader import render_to_string

register = template.Library()


@lru_cache(maxsize=256)
def _drawing(name, arguments):
    # A rendered template is already safe HTML: the arguments in it were escaped.
    return render_to_string(f"icons/{name}.svg", dict(arguments))


@register.simple_tag
def icon(name, **arguments):
    return _drawing(name, tuple(sorted((key, str(value)) for key, value in arguments.items())))
