from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LiveEvent(models.Model):
    """One change that open screens must show, kept so a reconnecting client can catch up.

    The audience is the agents of `inbox`, one `user`, and, when `visible_to_visitor`, the
    customer of `conversation` on their own channel (the website widget).
    """

    kind = models.CharField(max_length=40)
    inbox = models.ForeignKey(
        "inbox.Inbox", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    activity = models.ForeignKey(
        "conversations.Activity", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    visible_to_visitor = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("live event")
        verbose_name_plural = _("live events")
        indexes = [
            models.Index(fields=["inbox", "id"]),
            models.Index(fields=["user", "id"]),
            models.Index(
                fields=["conversation", "id"],
                condition=models.Q(visible_to_visitor=True),
                name="live_event_visitor_idx",
            ),
        ]

    def __str__(self):
        return f"{self.pk} {self.kind}"


class AgentSocket(models.Model):
    """An open agent websocket: a user with none is offline. Stale rows are swept.

    `viewing` is the conversation the socket follows: a conversation's thread updates are
    rendered only when some socket views it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    viewing = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    channel_name = models.CharField(max_length=200, unique=True)
    connected_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("agent socket")
        verbose_name_plural = _("agent sockets")

    def __str__(self):
        return f"{self.user_id} {self.channel_name}"
