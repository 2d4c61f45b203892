from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from contacts import services
from contacts.access import access_contact
from contacts.fragments import contact_panel_context


def _edit(request, pk, action):
    """Run one edit of the contact and answer with the panel (with the error, if refused)."""
    contact = access_contact(request.user, pk)
    error, status = "", 200
    try:
        action(contact)
    except services.ContactRefused as refusal:
        error, status = refusal.message, 422
    contact.refresh_from_db()
    context = {**contact_panel_context(contact, request.user), "error": error}
    return render(request, "contacts/partials/contact_panel.html", context, status=status)


@require_POST
def edit_detail(request, pk):
    field, value = request.POST.get("field", ""), request.POST.get("value", "")
    return _edit(request, pk, lambda c: services.edit_contact(request.user, c, field, value))


@require_POST
def set_attribute(request, pk):
    key, value = request.POST.get("key", ""), request.POST.get("value", "")
    return _edit(request, pk, lambda c: services.set_attribute(request.user, c, key, value))


@require_POST
def add_note(request, pk):
    body = request.POST.get("body", "")
    return _edit(request, pk, lambda c: services.add_contact_note(request.user, c, body))


@require_POST
def change_label(request, pk):
    """Add a label to the contact, or with action=remove take it off."""
    from conversations.models import Label

    label_id = request.POST.get("label", "")
    label = Label.objects.filter(pk=label_id).first() if label_id.isdigit() else None
    remove = request.POST.get("action") == "remove"

    def action(contact):
        if label is None:
            raise services.ContactRefused(_("That label does not exist."))
        if remove:
            services.remove_contact_label(request.user, contact, label)
        else:
            services.add_contact_label(request.user, contact, label)

    return _edit(request, pk, action)
