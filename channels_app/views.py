"""The agent's own presence and notification settings."""

from django.http import HttpResponse, HttpResponseBadRequest
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from channels_app import presence
from inbox.models import Availability


@require_POST
def set_availability(request):
    availability = request.POST.get("availability", "")
    if availability not in Availability.values:
        return HttpResponseBadRequest(
            _("Choose online, away or offline."), content_type="text/plain; charset=utf-8"
        )
    presence.set_availability(request.user, availability)
    return HttpResponse(status=204)


@require_POST
def set_notifications(request):
    presence.set_notifications(request.user, enabled=request.POST.get("enabled") == "on")
    return HttpResponse(status=204)
