"""The partials' time filters print exactly what `|date:` prints for the same format."""

from datetime import UTC, datetime

import pytest
from django.template import engines
from django.utils import timezone

MOMENTS = [
    datetime(2026, 12, 2, 7, 5, 9, 42, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC),  # the night clocks go forward
    datetime(1999, 12, 31, 23, 0, tzinfo=UTC),
]


def render(source, value):
    return engines["django"].from_string("{% load times %}" + source).render({"value": value})


@pytest.mark.parametrize("zone", ["UTC", "Europe/Rome", "America/Argentina/Buenos_Aires"])
@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize(
    ("ours", "django_format"),
    [("iso_datetime", "c"), ("clock", "H:i"), ("version_stamp", "U.u")],
)
def test_a_time_filter_matches_the_date_filter_in_the_viewers_time_zone(
    ours, django_format, moment, zone
):
    with timezone.override(zone):
        expected = render(f'{{{{ value|date:"{django_format}" }}}}', moment)
        assert render(f"{{{{ value|{ours} }}}}", moment) == expected


@pytest.mark.parametrize("ours", ["iso_datetime", "clock", "version_stamp"])
def test_no_time_prints_nothing(ours):
    assert render(f"{{{{ value|{ours} }}}}", None) == ""
