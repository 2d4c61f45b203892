from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox.models import InboxKind, validate_time_zone


class Contact(models.Model):
    """One person who writes to the business, on however many channels."""

    name = models.CharField(_("name"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"), blank=True, db_index=True)
    phone = models.CharField(
        _("phone"),
        max_length=20,
        blank=True,
        db_index=True,
        help_text=_("E.164, e.g. +34600111222"),
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, validators=[validate_time_zone], blank=True
    )
    custom_attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)
    labels = models.ManyToManyField(
        "conversations.Label", verbose_name=_("labels"), related_name="contacts", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self):
        return self.display_name

    @property
    def display_name(self):
        if self.anonymised_at:
            return str(_("Deleted contact"))
        return self.name or self.email or self.phone or str(_("Visitor #%(id)s") % {"id": self.pk})

    @property
    def initials(self):
        parts = [p for p in self.display_name.split() if p[:1].isalnum()]
        return "".join(p[0] for p in parts[:2]).upper() or "?"


class ContactIdentity(models.Model):
    """How a contact is reached on one inbox: a visitor id, a wa_id, a chat id, an address."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    inbox = models.ForeignKey("inbox.Inbox", on_delete=models.CASCADE, related_name="identities")
    external_id = models.CharField(_("external id"), max_length=255)
    display_name = models.CharField(_("name on this channel"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("contact identity")
        verbose_name_plural = _("contact identities")
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "external_id"], name="identity_unique_per_inbox"
            )
        ]

    def __str__(self):
        return f"{self.inbox} · {self.external_id}"


class ConsentState(models.TextChoices):
    OPTED_IN = "opted_in", _("Opted in")
    OPTED_OUT = "opted_out", _("Opted out")


class Consent(models.Model):
    """Append-only consent history per contact and channel kind; the latest row wins."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=32, choices=InboxKind)
    state = models.CharField(_("state"), max_length=16, choices=ConsentState)
    source = models.CharField(
        _("source"), max_length=120, help_text=_("Where it came from, e.g. 'STOP keyword'.")
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "channel", "-created_at", "-id"])]

    def __str__(self):
        return f"{self.contact} · {self.channel} · {self.state}"


class ContactNote(models.Model):
    """Something colleagues should know about a person, kept across conversations."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(_("note"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("contact note")
        verbose_name_plural = _("contact notes")

    def __str__(self):
        return self.body[:60]


class ContactChange(models.Model):
    """One edit of a contact's details: who changed which field, from what, to what."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    field = models.CharField(max_length=120)
    from_value = models.TextField(blank=True)
    to_value = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("contact change")
        verbose_name_plural = _("contact changes")

    def __str__(self):
        return f"{self.field}: {self.from_value} → {self.to_value}"
