"""A contact is visible to a user who may see at least one of their conversations."""

from django.http import Http404

from contacts.models import Contact


def access_contact(user, pk):
    from conversations.models import Conversation

    visible = Conversation.objects.visible_to(user).filter(contact_id=pk)
    contact = Contact.objects.filter(pk=pk, conversations__in=visible).distinct().first()
    if contact is None:
        raise Http404("No such contact.")
    return contact
