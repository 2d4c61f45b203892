"""The agent workspace. Views parse the request, check access, call a service, render."""

from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from channels_app.models import LiveEvent
from conversations import fragments, queries, services
from conversations.access import access_conversation, users_who_can_see
from conversations.fragments import conversation_queryset

VIEWS = {
    "mine": _("Mine"),
    "unassigned": _("Unassigned"),
    "all": _("All"),
}


def _view_name(request):
    view = request.GET.get("view", "mine")
    return view if view in VIEWS else "mine"


def _last_event_id():
    # Read before the page's data: anything committed after it comes through catch-up.
    return LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@require_GET
def workspace(request, pk=None):
    """The three panes: navigation, the conversation list, and the open thread."""
    last_event_id = _last_event_id()
    view = _view_name(request)
    conversation = None
    if pk is not None:
        conversation = access_conversation(request.user, pk, conversation_queryset())
    context = {
        "view": view,
        "view_title": VIEWS[view],
        "views": VIEWS,
        "counts": queries.view_counts(request.user),
        "page": queries.conversation_page(request.user, view, request.GET.get("before")),
        "conversation": conversation,
        "last_event_id": last_event_id,
    }
    if conversation is not None:
        context.update(queries.thread_context(conversation))
        context.update(fragments.thread_header_context(conversation))
    if request.htmx and request.htmx.target == "thread-pane" and conversation is not None:
        return render(request, "conversations/partials/thread.html", context)
    if request.htmx and request.htmx.target == "list-pane":
        return render(request, "conversations/partials/list_pane.html", context)
    return render(request, "conversations/workspace.html", context)


@require_GET
def conversation_list_page(request):
    """The next page of the list ("Load more")."""
    view = _view_name(request)
    page = queries.conversation_page(request.user, view, request.GET.get("before"))
    return render(request, "conversations/partials/list_page.html", {"page": page, "view": view})


@require_GET
def older_messages(request, pk):
    conversation = access_conversation(request.user, pk)
    before = request.GET.get("before")
    if not (before or "").isdigit():
        return HttpResponseBadRequest("before must be a message id")
    context = queries.thread_context(conversation, before=int(before))
    return render(request, "conversations/partials/older_messages.html", context)


@require_POST
def reply(request, pk):
    conversation = access_conversation(request.user, pk)
    body = request.POST.get("body", "")
    try:
        message = services.send_reply(request.user, conversation, body)
    except services.ActionRefused as refusal:
        response = render(
            request,
            "conversations/partials/composer.html",
            {"conversation": conversation, "error": refusal.message, "body": body},
            status=422,
        )
        return response
    return render(
        request,
        "conversations/partials/reply_sent.html",
        {"conversation": conversation, "message": message},
    )


@require_POST
def assign(request, pk):
    conversation = access_conversation(request.user, pk, conversation_queryset())
    assignee_id = request.POST.get("assignee", "")
    assignee = None
    if assignee_id:
        assignee = users_who_can_see(conversation).filter(pk=assignee_id).first()
        if assignee is None:
            return HttpResponseBadRequest(_("Choose someone who can see this conversation."))
    try:
        conversation = services.assign_conversation(request.user, conversation, assignee)
    except services.ActionRefused as refusal:
        return HttpResponseBadRequest(refusal.message)
    return render(
        request,
        "conversations/partials/thread_header.html",
        fragments.thread_header_context(conversation_queryset().get(pk=conversation.pk)),
    )
