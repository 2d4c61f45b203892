"""Open sockets follow changes to what their user may see.

A socket joins the groups of the inboxes its user may see, in the user's language, when it
connects. When that changes (an inbox membership, the role, deactivation, the language),
the user's sockets are told to reconnect, and join what the user may see now: someone
taken off an inbox stops receiving its live updates at once, not at their next reload.

Memberships and roles are edited in the admin, which writes the models directly, so the
changes are caught with model signals rather than in one service.
"""

import logging

from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from channels_app.groups import user_group
from channels_app.layer_sender import send_to_groups
from inbox.models import Inbox, User

logger = logging.getLogger(__name__)

FIELDS_THAT_CHANGE_ACCESS = frozenset({"role", "is_active", "language"})


def sockets_rejoin(user_ids):
    """Have these users' open sockets reconnect once the current transaction commits."""
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return

    def tell():
        messages = [(user_group(pk), {"type": "access.changed"}) for pk in user_ids]
        try:
            send_to_groups(get_channel_layer(), messages)
        except Exception:
            logger.exception("Could not tell the sockets of users %s to rejoin", user_ids)

    transaction.on_commit(tell)


@receiver(m2m_changed, sender=Inbox.members.through)
def inbox_members_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if reverse:  # user.inboxes.add(…): the instance is the user
        sockets_rejoin([instance.pk])
    elif action == "pre_clear":
        sockets_rejoin(instance.members.values_list("pk", flat=True))
    else:
        sockets_rejoin(pk_set or ())


@receiver(post_save, sender=User)
def user_saved(sender, instance, created, update_fields, **kwargs):
    if created:
        return
    if update_fields is None or FIELDS_THAT_CHANGE_ACCESS & set(update_fields):
        sockets_rejoin([instance.pk])
