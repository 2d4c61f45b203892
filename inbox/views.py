"""The signed-in user's own preferences, and whether a page is still signed in."""

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
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


@login_not_required
@never_cache
@require_GET
def session_status(request):
    """204 while this browser is signed in to an active account, else 401.

    The workspace's script asks when its live socket closes: the server refuses the socket of
    a session that ended, and a browser cannot tell that refusal from a network drop. No
    session is a plain 401: the usual redirect would reach the script as the sign-in page.
    """
    if request.user.is_authenticated and request.user.is_active:
        return HttpResponse(status=204)
    return HttpResponse(status=401)
