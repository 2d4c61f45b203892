import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox.models import Inbox, InboxKind


def choice_label(choices, value):
    """What `get_FOO_display()` shows, looked up through the choices class.

    Django's own method hashes every choice on each call; rows and messages rendered by the
    hundred show these labels, so they look them up directly.
    """
    try:
        return choices(value).label
    except ValueError:
        return value


class Status(models.TextChoices):
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending")
    SNOOZED = "snoozed", _("Snoozed")
    RESOLVED = "resolved", _("Resolved")


class Priority(models.IntegerChoices):
    NONE = 0, _("None")
    LOW = 1, _("Low")
    MEDIUM = 2, _("Medium")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class Label(models.Model):
    """A tag agents put on conversations and contacts ("billing", "vip")."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    color = models.CharField(
        _("colour"), max_length=7, default="#64748b", help_text=_("Hex colour, e.g. #2563eb")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("label")
        verbose_name_plural = _("labels")

    def __str__(self):
        return self.name


@models.ForeignKey.register_lookup
class AnyOf(models.Lookup):
    """`field__any_of=subquery`: the field's value is one of the subquery's rows.

    On PostgreSQL `= ANY(ARRAY(subquery))`: the subquery runs once, before the rest of the
    query, as a list of values (an InitPlan), where `IN (subquery)` joins its tables into
    the query. For an agent's list that join cost more to plan than the list took to run,
    and hid which inbox was meant, so the planner could not walk the list's index
    (bench/README.md, round 9). Elsewhere it is `IN (subquery)`.
    """

    lookup_name = "any_of"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        form = "{} = ANY(ARRAY{})" if connection.vendor == "postgresql" else "{} IN {}"
        return form.format(lhs, rhs), (*lhs_params, *rhs_params)


class InboxRowsQuerySet(models.QuerySet):
    """Rows of a model with an `inbox`: conversations, and their messages (which carry
    their conversation's inbox, so a search need not join every match to its
    conversation)."""

    def visible_to(self, user):
        """The one place that says which conversations, and messages, a user may see."""
        if user.is_authenticated and user.is_active and user.sees_every_inbox:
            # Every row belongs to an inbox, and this user sees them all. Leaving out the
            # tautological `inbox IN (all inboxes)` matters: PostgreSQL spent 6 ms of the
            # list's 9 ms planning it alongside the list's joins.
            return self.all()
        return self.filter(inbox__any_of=Inbox.objects.visible_to(user).values("pk").order_by())


class Conversation(models.Model):
    """A thread between one contact and the business on one inbox."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="conversations")
    # Copied from the inbox so the "one open thread per identity" rule can be a constraint.
    channel = models.CharField(_("channel"), max_length=32, choices=InboxKind)
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.PROTECT, related_name="conversations"
    )
    contact_identity = models.ForeignKey(
        "contacts.ContactIdentity",
        on_delete=models.PROTECT,
        related_name="conversations",
        help_text=_("The route back to the customer."),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey(
        "inbox.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    priority = models.PositiveSmallIntegerField(choices=Priority, default=Priority.NONE)
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)
    last_message = models.ForeignKey(
        "Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The latest customer-visible message, for the list preview."),
    )
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    waiting_since = models.DateTimeField(
        null=True, blank=True, help_text=_("Since when the customer has waited for an answer.")
    )
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = InboxRowsQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "contact_identity"],
                condition=Q(status__in=["open", "pending"]) & ~Q(channel="email"),
                name="one_active_conversation_per_identity",
            ),
        ]
        indexes = [
            models.Index(fields=["inbox", "status", "-last_message_at", "-id"]),
            models.Index(fields=["assignee", "status", "-last_message_at", "-id"]),
            models.Index(fields=["status", "-last_message_at", "-id"]),
            models.Index(fields=["contact", "-last_message_at"]),
        ]

    def __str__(self):
        return f"#{self.number} {self.contact}"

    @property
    def number(self):
        """The number people use for a conversation ("#1042"): its primary key."""
        return self.pk

    @property
    def channel_label(self):
        return choice_label(InboxKind, self.channel)

    @property
    def priority_label(self):
        return choice_label(Priority, self.priority)


class ShownAttributes(dict):
    """A message's attributes as templates read them: a missing key is None, not an error."""

    def __missing__(self, key):
        return None


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class MessageKind(models.TextChoices):
    TEXT = "text", _("Text")
    NOTE = "note", _("Private note")
    TEMPLATE = "template", _("Template")


class AuthorType(models.TextChoices):
    CONTACT = "contact", _("Contact")
    AGENT = "agent", _("Agent")
    SYSTEM = "system", _("System")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")
    UNKNOWN = "unknown", _("May not have been delivered")


# Receipts only ever move a message forward along this order.
DELIVERY_ORDER = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.UNKNOWN: 1,
    DeliveryStatus.FAILED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.READ: 4,
}


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # Copied from the conversation so (inbox, external_id) can be unique.
    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=8, choices=Direction)
    kind = models.CharField(max_length=16, choices=MessageKind, default=MessageKind.TEXT)
    author_type = models.CharField(max_length=8, choices=AuthorType)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="authored_messages",
    )
    body = models.TextField(blank=True)
    content_attributes = models.JSONField(default=dict, blank=True)
    in_reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    external_id = models.CharField(max_length=255, null=True, blank=True)
    provider_timestamp = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=DeliveryStatus, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # Tries the provider did not take (429, 5xx, refused connection), and when the next is due.
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The task that moved the message to `sending`: if that same task is delivered again,
    # its worker died mid-call and the outcome cannot be known.
    send_claim = models.CharField(max_length=64, blank=True)
    is_edited = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)

    objects = InboxRowsQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "external_id"],
                condition=Q(external_id__isnull=False),
                name="message_external_id_unique_per_inbox",
            ),
        ]
        indexes = [models.Index(fields=["conversation", "id"])]

    def __str__(self):
        return f"{self.get_direction_display()} #{self.pk}"

    @property
    def is_note(self):
        return self.kind == MessageKind.NOTE

    @property
    def status_label(self):
        return choice_label(DeliveryStatus, self.status)

    @property
    def shown_attributes(self):
        """`content_attributes` for templates: a key the message lacks reads as None.

        The thread asks every message for its subject, location, reaction, quote, HTML and
        echo flag; each missing key was a failed template lookup, an exception raised and
        caught, a sixth of a message's rendering.
        """
        return ShownAttributes(self.content_attributes or {})

    @property
    def is_visible_to_customer(self):
        return self.kind in (MessageKind.TEXT, MessageKind.TEMPLATE)

    @property
    def files(self):
        """The message's attachments in the order they came: the list `files_in_order()`
        prefetched with the message, or else read now."""
        prefetched = getattr(self, "prefetched_files", None)
        return prefetched if prefetched is not None else list(self.attachments.order_by("pk"))


def files_in_order():
    """Prefetches what `Message.files` reads, as one plain list per message: prefetched as a
    queryset per message instead, 50 messages with no files took 5 ms to set up."""
    return models.Prefetch(
        "attachments", queryset=Attachment.objects.order_by("pk"), to_attr="prefetched_files"
    )


def attachment_path(instance, filename):
    # Never the customer's file name: a generated name cannot traverse or collide.
    return f"attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=255, blank=True)
    content_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField(default=0)
    original_name = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    # Inbound media is fetched by a task: until then the provider's reference is kept here
    # and the message shows a placeholder; `fetch_error` says why a file could not be had.
    provider_ref = models.CharField(max_length=1024, blank=True)
    fetch_error = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self):
        return self.original_name

    @property
    def is_image(self):
        return self.content_type.startswith("image/")

    @property
    def is_pending(self):
        return not self.file and not self.fetch_error


class ActivityField(models.TextChoices):
    STATUS = "status", _("Status")
    ASSIGNEE = "assignee", _("Assignee")
    TEAM = "team", _("Team")
    PRIORITY = "priority", _("Priority")
    LABEL_ADDED = "label_added", _("Label added")
    LABEL_REMOVED = "label_removed", _("Label removed")


class Activity(models.Model):
    """One change to a conversation: who changed what, from what, to what, and when."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="activities"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Empty when the customer or the system made the change."),
    )
    field = models.CharField(max_length=16, choices=ActivityField)
    from_value = models.CharField(max_length=255, blank=True)
    to_value = models.CharField(max_length=255, blank=True)
    from_label = models.CharField(max_length=255, blank=True)
    to_label = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            models.Index(fields=["field", "created_at"]),
        ]

    def __str__(self):
        return f"{self.get_field_display()}: {self.from_value} → {self.to_value}"

    def _display(self, value, label):
        if self.field == ActivityField.STATUS and value in Status.values:
            return Status(value).label
        if self.field == ActivityField.PRIORITY and value.isdigit():
            return Priority(int(value)).label
        return label or value

    @property
    def from_display(self):
        return self._display(self.from_value, self.from_label)

    @property
    def to_display(self):
        return self._display(self.to_value, self.to_label)


class ConversationRead(models.Model):
    """How far a user has read a conversation (for unread badges)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    last_read_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="one_read_marker")
        ]

    def __str__(self):
        return f"{self.user} read #{self.conversation_id} up to {self.last_read_message_id}"


class Mention(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions"
    )
    is_read = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="one_mention_per_user")
        ]

    def __str__(self):
        return f"@{self.user} in message {self.message_id}"


class CannedResponseQuerySet(models.QuerySet):
    def available_to(self, user):
        """Shared responses and the user's own."""
        return self.filter(Q(owner__isnull=True) | Q(owner=user))


class CannedResponse(models.Model):
    """A saved reply, inserted with "/" in the composer. Shared when it has no owner.

    The body may hold placeholders: {{contact.first_name}}, {{contact.name}},
    {{contact.email}}, {{agent.first_name}}, {{agent.name}}.
    """

    shortcut = models.SlugField(_("shortcut"), max_length=40)
    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("text"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_responses",
        help_text=_("Empty for a response everyone shares."),
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = CannedResponseQuerySet.as_manager()

    class Meta:
        ordering = ["shortcut"]
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")
        constraints = [
            models.UniqueConstraint(
                fields=["shortcut"], condition=Q(owner__isnull=True), name="shared_shortcut_unique"
            ),
            models.UniqueConstraint(fields=["owner", "shortcut"], name="own_shortcut_unique"),
        ]

    def __str__(self):
        return f"/{self.shortcut}"
