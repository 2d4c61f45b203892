"""Access helpers: the only way views and consumers read conversations by id.

A conversation that does not exist and one the user may not see get the same answer.
"""

from django.http import Http404

from conversations.models import Conversation


def visible_conversations(user):
    return Conversation.objects.visible_to(user)


def access_conversation(user, pk, queryset=None):
    queryset = queryset if queryset is not None else Conversation.objects.all()
    try:
        return queryset.visible_to(user).get(pk=pk)
    except (Conversation.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such conversation.") from exc


def can_see_conversation(user, conversation):
    return Conversation.objects.visible_to(user).filter(pk=conversation.pk).exists()


def users_who_can_see(conversation):
    """Active users who may see this conversation: its inbox's members, supervisors, admins."""
    from django.db.models import Q

    from inbox.models import Role, User

    return (
        User.objects.filter(is_active=True)
        .filter(Q(role__in=(Role.SUPERVISOR, Role.ADMIN)) | Q(inboxes=conversation.inbox_id))
        .distinct()
    )
