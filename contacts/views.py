from django.shortcuts import render
from django.views.decorators.http import require_POST

from contacts import services
from contacts.access import access_contact
from contacts.fragments import contact_panel_context


def _panel(request, contact, error="", status=200):
    context = {**contact_panel_context(contact, request.user), "error": error}
    return render(request, "contacts/partials/contact_panel.html", context, status=status)


@require_POST
def edit_detail(request, pk):
    contact = access_contact(request.user, pk)
    try:
        contact = services.edit_contact(
            request.user, contact, request.POST.get("field", ""), request.POST.get("value", "")
        )
    except services.ContactRefused as refusal:
        return _panel(request, contact, refusal.message, status=422)
    return _panel(request, contact)


@require_POST
def set_attribute(request, pk):
    contact = access_contact(request.user, pk)
    try:
        contact = services.set_attribute(
            request.user, contact, request.POST.get("key", ""), request.POST.get("value", "")
        )
    except services.ContactRefused as refusal:
        return _panel(request, contact, refusal.message, status=422)
    return _panel(request, contact)


@require_POST
def add_note(request, pk):
    contact = access_contact(request.user, pk)
    try:
        services.add_contact_note(request.user, contact, request.POST.get("body", ""))
    except services.ContactRefused as refusal:
        return _panel(request, contact, refusal.message, status=422)
    return _panel(request, contact)
