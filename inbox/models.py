import secrets
import uuid
import zoneinfo

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox.fields import EncryptedJSONField


def validate_time_zone(value):
    """An IANA time zone name. Kept out of `choices` so migrations do not track tzdata."""
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(value)s” is not a known time zone."), params={"value": value})


class Role(models.TextChoices):
    AGENT = "agent", _("Agent")
    SUPERVISOR = "supervisor", _("Supervisor")
    ADMIN = "admin", _("Admin")


class Availability(models.TextChoices):
    ONLINE = "online", _("Online")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **fields):
        if not email:
            raise ValueError("A user needs an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields["role"] = Role.ADMIN
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser):
    """A person who works in Switchboard: an agent, a supervisor or an admin."""

    email = models.EmailField(_("e-mail"), unique=True)
    display_name = models.CharField(_("display name"), max_length=120)
    role = models.CharField(_("role"), max_length=16, choices=Role, default=Role.AGENT)
    availability = models.CharField(
        _("availability"), max_length=16, choices=Availability, default=Availability.OFFLINE
    )
    # True when Switchboard set the availability (idle, all sockets closed), so it may
    # change it back; an agent's own choice is never overridden.
    availability_is_automatic = models.BooleanField(default=True)
    notifications_enabled = models.BooleanField(_("browser notifications"), default=True)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, validators=[validate_time_zone], default="UTC"
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["display_name"]

    def __str__(self):
        return self.display_name or self.email

    def get_full_name(self):
        return self.display_name

    def get_short_name(self):
        return self.display_name.split(" ")[0] if self.display_name else self.email

    @property
    def sees_every_inbox(self):
        return self.role in (Role.SUPERVISOR, Role.ADMIN)

    # Operators reach the Django admin by role; there are no per-model permissions.
    @property
    def is_staff(self):
        return self.is_active and self.role == Role.ADMIN

    @property
    def is_superuser(self):
        return self.is_staff

    def has_perm(self, perm, obj=None):
        return self.is_staff

    def has_perms(self, perm_list, obj=None):
        return self.is_staff

    def has_module_perms(self, app_label):
        return self.is_staff


class Team(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="teams", blank=True, verbose_name=_("members")
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name


class InboxKind(models.TextChoices):
    WEB_WIDGET = "web_widget", _("Website widget")
    WHATSAPP = "whatsapp", _("WhatsApp")
    MESSENGER = "messenger", _("Messenger")
    INSTAGRAM = "instagram", _("Instagram")
    TELEGRAM = "telegram", _("Telegram")
    TWILIO_SMS = "twilio_sms", _("SMS (Twilio)")
    TWILIO_WHATSAPP = "twilio_whatsapp", _("WhatsApp (Twilio)")
    EMAIL = "email", _("E-mail")


# On these channels one sender may hold several threads at once (one per subject).
KINDS_WITH_PARALLEL_THREADS = (InboxKind.EMAIL,)


def new_public_token():
    return secrets.token_urlsafe(18)


class InboxQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The inboxes whose conversations this user may see."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.sees_every_inbox:
            return self.all()
        return self.filter(members=user)


class Inbox(models.Model):
    """One connected messaging channel: a website widget, a WhatsApp number, a bot…"""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=32, choices=InboxKind)
    public_token = models.CharField(
        _("public token"), max_length=64, unique=True, default=new_public_token
    )
    provider_config = models.JSONField(
        _("provider settings"),
        default=dict,
        blank=True,
        help_text=_("Settings that are not secret: ids, allowed sites, greeting."),
    )
    provider_secrets = EncryptedJSONField(
        _("provider secrets"),
        blank=True,
        default=dict,
        help_text=_("Tokens and signing secrets, encrypted at rest."),
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, validators=[validate_time_zone], default="UTC"
    )
    is_active = models.BooleanField(_("active"), default=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="inboxes", blank=True, verbose_name=_("members")
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = InboxQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("inbox")
        verbose_name_plural = _("inboxes")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=InboxKind.values), name="inbox_kind_known")
        ]

    def __str__(self):
        return self.name

    @property
    def allows_parallel_threads(self):
        return self.kind in KINDS_WITH_PARALLEL_THREADS

    @property
    def webhook_url(self):
        """Where the provider posts deliveries and status callbacks for this inbox."""
        from django.urls import reverse

        path = reverse("provider_webhook", args=[self.kind, self.public_token])
        return settings.PUBLIC_URL + path

    def masked_secrets(self):
        """Secrets as an operator may see them again: the last four characters only."""
        return {
            key: ("•" * 8 + str(value)[-4:]) if value else ""
            for key, value in sorted(self.provider_secrets.items())
        }


class InboundEventStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be applied")
    PROCESSED = "processed", _("Applied")
    FAILED = "failed", _("Failed")


class InboundEvent(models.Model):
    """One delivery a provider posted to a webhook, stored raw before anything else.

    The webhook answers as soon as this row is committed; a task parses and applies it.
    A delivery the provider repeats has the same key, so it is stored once.
    """

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="inbound_events")
    delivery_key = models.CharField(_("delivery key"), max_length=200)
    body = models.BinaryField(_("raw body"))
    content_type = models.CharField(_("content type"), max_length=120, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=InboundEventStatus,
        default=InboundEventStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "delivery_key"], name="inbound_event_once_per_delivery"
            )
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(status="pending"),
                name="inbound_event_pending",
            )
        ]

    def __str__(self):
        return f"{self.inbox} · {self.delivery_key}"


class PendingReceipt(models.Model):
    """A receipt for an outbound message we have not recorded yet (its send is still
    returning). Applied the moment the message gets that provider id."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=255)
    status = models.CharField(max_length=16)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "external_id", "status"], name="pending_receipt_once"
            )
        ]

    def __str__(self):
        return f"{self.external_id} → {self.status}"


class MessageTemplate(models.Model):
    """An approved WhatsApp message template, synced from the provider."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(_("name"), max_length=512)
    language = models.CharField(_("language"), max_length=16)
    category = models.CharField(_("category"), max_length=32, blank=True)
    status = models.CharField(_("status"), max_length=16)
    body_text = models.TextField(_("text"), blank=True)
    parameter_count = models.PositiveSmallIntegerField(default=0)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "language"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "name", "language"], name="template_once_per_language"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.language})"


class MailboxState(models.Model):
    """Where fetching for an inbox got to: IMAP's UIDVALIDITY and last UID, or the next
    Telegram update offset. Kept as the provider code returns it."""

    inbox = models.OneToOneField(Inbox, on_delete=models.CASCADE, related_name="mailbox_state")
    cursor = models.JSONField(default=dict, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    def __str__(self):
        return f"{self.inbox} @ {self.cursor}"
