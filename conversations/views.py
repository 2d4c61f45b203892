"""The agent workspace. Views parse the request, check access, call a service, render."""

from datetime import timedelta

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from channels_app.models import LiveEvent
from contacts.fragments import contact_panel_context, labels_marking
from conversations import attachments, fragments, queries, services
from conversations.access import (
    access_attachment,
    access_conversation,
    access_signed_attachment,
    users_who_can_see,
)
from conversations.fragments import conversation_queryset, thread_conversation_queryset
from conversations.models import Label
from inbox.models import Availability, Team, User


def _list_view(request):
    """The list the user asked for, or the one they last looked at (kept in the session)."""
    params = request.GET
    remembered = request.session.get("list_view", {})
    key = params.get("view") or remembered.get("view") or "mine"
    status = params.get("status") or remembered.get("status") or "open"
    sort = params.get("sort") or remembered.get("sort") or "newest"
    try:
        view = queries.resolve_view(request.user, key, status, sort)
    except Http404:
        view = queries.resolve_view(request.user, "mine")
    chosen = {"view": view.key, "status": view.status, "sort": view.sort}
    if remembered != chosen:
        request.session["list_view"] = chosen
    return view


def _last_event_id():
    # Read before the page's data: anything committed after it comes through catch-up.
    return LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _list_context(request, view):
    page = queries.conversation_page(request.user, view, request.GET.get("before"))
    return {
        "view": view,
        "bulk_assignees": User.objects.filter(is_active=True)
        .order_by("display_name")
        .values_list("pk", "display_name"),
        "labels": Label.objects.order_by("name"),
        "statuses": queries.STATUSES,
        "sorts": queries.SORTS,
        "page": page,
        "unread_ids": " ".join(map(str, page.unread_ids)),
    }


@require_GET
def workspace(request, pk=None):
    """The three panes: navigation, the conversation list, and the open thread."""
    # The list pane alone carries no event id: live updates reach it through the page's socket.
    list_pane_only = request.htmx and request.htmx.target == "list-pane"
    last_event_id = None if list_pane_only else _last_event_id()
    conversation = None
    if pk is not None:
        conversation = access_conversation(request.user, pk, thread_conversation_queryset())
    if conversation is not None and request.htmx and request.htmx.target == "thread-pane":
        return render(
            request,
            "conversations/partials/thread.html",
            {"last_event_id": last_event_id, **_thread_pane(conversation, request.user)},
        )
    view = _list_view(request)
    if list_pane_only:
        return render(
            request, "conversations/partials/list_pane.html", _list_context(request, view)
        )
    context = {
        **_list_context(request, view),
        "navigation": queries.navigation(request.user),
        "availability_choices": Availability.choices,
        "conversation": conversation,
        "last_event_id": last_event_id,
    }
    if conversation is not None:
        context.update(_thread_pane(conversation, request.user))
    return render(request, "conversations/workspace.html", context)


def _thread_pane(conversation, user):
    """The open thread as `user` sees it: messages, header, composer and contact panel."""
    people = fragments.people_who_can_see(conversation)
    # One read of the labels for the header's picker and chips and the contact panel.
    labels = labels_marking(conversation.contact, conversation)
    return {
        "conversation": conversation,
        **queries.thread_context(conversation),
        **fragments.thread_header_context(conversation, people, labels),
        **fragments.composer_context(conversation, user, people),
        **contact_panel_context(conversation.contact, user, labels),
    }


@require_GET
def attachment(request, pk):
    """A file on a message of a conversation the user may see (404 for any other)."""
    return attachments.file_response(access_attachment(request.user, pk))


@login_not_required
@require_GET
def signed_attachment(request, token):
    """A file behind a signed, expiring link: how providers fetch the media we send."""
    return attachments.file_response(access_signed_attachment(token))


@require_GET
def conversation_list_page(request):
    """The next page of the list ("Load more")."""
    view = _list_view(request)
    return render(request, "conversations/partials/list_page.html", _list_context(request, view))


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
    """Send a reply to the customer, or add a private note (mode=note) for colleagues."""
    conversation = access_conversation(request.user, pk)
    body = request.POST.get("body", "")
    files = request.FILES.getlist("files")
    mode = "note" if request.POST.get("mode") == "note" else "reply"
    try:
        if mode == "note":
            message = services.add_note(
                request.user,
                conversation,
                body,
                services.mentioned_in(conversation, body),
                files=files,
            )
        else:
            message = services.send_reply(request.user, conversation, body, files=files)
        services.mark_conversation_read(request.user, conversation)
    except services.ActionRefused as refusal:
        return render(
            request,
            "conversations/partials/composer.html",
            {
                **fragments.composer_context(conversation, request.user),
                "error": refusal.message,
                "body": body,
                "mode": mode,
            },
            status=422,
        )
    return render(
        request,
        "conversations/partials/reply_sent.html",
        {
            **fragments.composer_context(conversation, request.user),
            "message": message,
            "mode": mode,
        },
    )


@require_POST
def send_template(request, pk, template_pk):
    """Send an approved WhatsApp template, with the values the agent filled in."""
    from inbox.models import MessageTemplate

    conversation = access_conversation(request.user, pk)
    template = get_object_or_404(MessageTemplate, pk=template_pk, inbox=conversation.inbox)
    parameters = request.POST.getlist("template_parameters")
    try:
        message = services.send_template(request.user, conversation, template, parameters)
        services.mark_conversation_read(request.user, conversation)
    except services.ActionRefused as refusal:
        return render(
            request,
            "conversations/partials/composer.html",
            {**fragments.composer_context(conversation, request.user), "error": refusal.message},
            status=422,
        )
    return render(
        request,
        "conversations/partials/reply_sent.html",
        {
            **fragments.composer_context(conversation, request.user),
            "message": message,
            "mode": "reply",
        },
    )


@require_POST
def assign(request, pk):
    conversation = access_conversation(request.user, pk, conversation_queryset())
    assignee_id = request.POST.get("assignee", "")
    assignee = None
    if assignee_id:
        assignee = users_who_can_see(conversation).filter(pk=assignee_id).first()
        if assignee is None:
            return HttpResponseBadRequest(
                _("Choose someone who can see this conversation."), content_type="text/plain"
            )
    try:
        conversation = services.assign_conversation(request.user, conversation, assignee)
    except services.ActionRefused as refusal:
        return _refused(refusal)
    return _header(request, conversation)


def _header(request, conversation):
    conversation = conversation_queryset().get(pk=conversation.pk)
    return render(
        request,
        "conversations/partials/thread_header.html",
        fragments.thread_header_context(conversation),
    )


def _refused(refusal):
    return HttpResponseBadRequest(refusal.message, content_type="text/plain; charset=utf-8")


@require_POST
def change_status(request, pk):
    """Resolve, reopen, set pending, or snooze (until a preset or a chosen time)."""
    conversation = access_conversation(request.user, pk)
    status = request.POST.get("status", "")
    snoozed_until = None
    if status == "snoozed":
        snoozed_until = snooze_time(request.POST.get("until", ""), request.POST.get("at", ""))
        if snoozed_until is None:
            return HttpResponseBadRequest(
                _("Choose when the conversation should come back."),
                content_type="text/plain; charset=utf-8",
            )
    try:
        conversation = services.change_status(
            request.user, conversation, status, snoozed_until=snoozed_until
        )
    except services.ActionRefused as refusal:
        return _refused(refusal)
    return _header(request, conversation)


def snooze_time(preset, chosen):
    """A snooze preset ("1h", "tomorrow", "next_week") or a chosen local date and time."""
    now = timezone.localtime()
    nine = {"hour": 9, "minute": 0, "second": 0, "microsecond": 0}
    if preset == "1h":
        return now + timedelta(hours=1)
    if preset == "tomorrow":
        return (now + timedelta(days=1)).replace(**nine)
    if preset == "next_week":
        return (now + timedelta(days=7 - now.weekday())).replace(**nine)
    moment = parse_datetime(chosen) if chosen else None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


@require_POST
def change_priority(request, pk):
    conversation = access_conversation(request.user, pk)
    try:
        priority = int(request.POST.get("priority", ""))
        conversation = services.set_priority(request.user, conversation, priority)
    except ValueError:
        return HttpResponseBadRequest(_("Choose a priority."), content_type="text/plain")
    except services.ActionRefused as refusal:
        return _refused(refusal)
    return _header(request, conversation)


@require_POST
def change_team(request, pk):
    conversation = access_conversation(request.user, pk)
    team_id = request.POST.get("team", "")
    team = Team.objects.filter(pk=team_id).first() if team_id.isdigit() else None
    if team_id and team is None:
        return HttpResponseBadRequest(_("That team does not exist."), content_type="text/plain")
    conversation = services.assign_team(request.user, conversation, team)
    return _header(request, conversation)


@require_POST
def change_labels(request, pk):
    conversation = access_conversation(request.user, pk)
    label = Label.objects.filter(pk=request.POST.get("label") or 0).first()
    if label is None:
        return HttpResponseBadRequest(_("That label does not exist."), content_type="text/plain")
    if request.POST.get("action") == "remove":
        conversation = services.remove_label(request.user, conversation, label)
    else:
        conversation = services.add_label(request.user, conversation, label)
    return _header(request, conversation)


@require_GET
def search(request):
    """One search box over the conversations, contacts and messages the user may see.

    In the workspace the results replace the thread pane; "More results" appends a page.
    """
    from conversations.search import search_for

    context = {"results": search_for(request.user, request.GET.get("q"), request.GET.get("page"))}
    target = request.htmx.target if request.htmx else None
    if target == "search-more":
        return render(request, "conversations/partials/search_results.html#message_page", context)
    if target == "thread-pane":
        return render(request, "conversations/partials/search_results.html", context)
    return render(request, "conversations/search.html", context)


@require_POST
def save_canned_response(request, pk):
    """Save the composer's text as a canned response; answers with the composer, text kept."""
    conversation = access_conversation(request.user, pk)
    body = request.POST.get("body", "")
    context = {**fragments.composer_context(conversation, request.user), "body": body}
    try:
        canned = services.create_canned_response(
            request.user,
            shortcut=request.POST.get("shortcut", ""),
            title=request.POST.get("title", ""),
            body=body,
            shared=request.POST.get("shared") == "on",
        )
    except services.ActionRefused as refusal:
        return render(
            request,
            "conversations/partials/composer.html",
            {**context, "error": refusal.message},
            status=422,
        )
    context = {**fragments.composer_context(conversation, request.user), "body": body}
    context["notice"] = _("Saved as /%(shortcut)s.") % {"shortcut": canned.shortcut}
    return render(request, "conversations/partials/composer.html", context)


@require_POST
def bulk_update(request):
    """Assign, set the status of, or label the selected conversations."""
    ids = [pk for pk in request.POST.getlist("conversations") if pk.isdigit()][:200]
    conversations = list(queries.visible_conversations_by_ids(request.user, ids))
    assignee_id = request.POST.get("assignee", "")
    status = request.POST.get("status", "")
    label = Label.objects.filter(pk=request.POST.get("label") or 0).first()
    assignee = None
    if assignee_id.isdigit():
        assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
    if not conversations or not (assignee or assignee_id == "none" or status or label):
        return HttpResponseBadRequest(
            _("Select conversations and a change to make."), content_type="text/plain"
        )
    result = services.bulk_update(
        request.user,
        conversations,
        assignee=assignee,
        unassign=assignee_id == "none",
        status=status or None,
        label=label,
    )
    view = _list_view(request)
    context = {**_list_context(request, view), "bulk_result": result}
    return render(request, "conversations/partials/list_pane.html", context)


@require_POST
def retry_message(request, pk, message_pk):
    conversation = access_conversation(request.user, pk)
    message = conversation.messages.filter(pk=message_pk).first()
    if message is None:
        raise Http404("No such message.")
    try:
        message = services.retry_message(request.user, message)
    except services.ActionRefused as refusal:
        return _refused(refusal)
    message = fragments.message_queryset().get(pk=message.pk)
    return render(request, "conversations/partials/message_oob.html", {"message": message})
