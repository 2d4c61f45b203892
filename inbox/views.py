"""The signed-in user's own preferences."""

from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from inbox import services


def _back(request):
    """The page the user came from when it is on this site; otherwise the inbox."""
    referer = request.headers.get("referer", "")
    if url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return reverse("conversations:inbox")


@require_POST
def set_language(request):
    try:
        services.set_preferences(request.user, language=request.POST.get("language", ""))
    except ValidationError as error:
        return HttpResponseBadRequest(
            " ".join(error.messages), content_type="text/plain; charset=utf-8"
        )
    # The whole page changes language, so it is loaded again, not swapped in parts.
    if request.htmx:
        return HttpResponseClientRedirect(_back(request))
    return redirect(_back(request))
