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


def access_attachment(user, pk):
    """An attachment on a message of a conversation the user may see, or Http404."""
    from conversations.models import Attachment

    attachment = Attachment.objects.select_related("message").filter(pk=pk).first()
    if attachment is None:
        raise Http404("No such attachment.")
    access_conversation(user, attachment.message.conversation_id)
    return attachment


def access_visitor_attachment(identity, pk):
    """An attachment the widget's visitor may fetch, or Http404.

    Only files on the visitor's own conversations, on messages they can see: their own,
    and our replies once sent. Never a private note, never another visitor's file.
    """
    from conversations.models import Attachment, DeliveryStatus, Direction, MessageKind

    attachment = (
        Attachment.objects.filter(
            pk=pk,
            message__conversation__contact_identity=identity,
            message__kind__in=(MessageKind.TEXT, MessageKind.TEMPLATE),
            message__is_deleted=False,
        )
        .exclude(
            message__direction=Direction.OUTBOUND,
            message__status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING),
        )
        .first()
    )
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def access_signed_attachment(token):
    """The attachment a signed link names: 403 if forged or expired, 404 if it is gone."""
    from django.core.exceptions import PermissionDenied

    from conversations.attachments import attachment_id_from_token
    from conversations.models import Attachment

    attachment_id = attachment_id_from_token(token)
    if attachment_id is None:
        raise PermissionDenied("This link is invalid or has expired.")
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment
