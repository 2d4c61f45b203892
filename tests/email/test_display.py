"""How an e-mail shows in the thread: text first, the formatted version safe and complete."""

import pytest
from django.template.loader import render_to_string

from conversations.models import Message
from inbox.inbound import accept_delivery, apply_inbound_event
from inbox.models import Inbox, InboxKind
from tests.email.mails import PNG, plain_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_inbox(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return Inbox.objects.create(kind=InboxKind.EMAIL, name="Mail", provider_config={})


def receive(inbox, mail):
    accepted = accept_delivery(inbox, body=bytes(mail), content_type="message/rfc822")
    apply_inbound_event(accepted.event.pk)
    return Message.objects.get(inbox=inbox)


def rendered(message):
    return render_to_string("conversations/partials/message.html", {"message": message})


def test_inline_images_of_the_formatted_mail_point_at_stored_attachments(email_inbox):
    mail = plain_mail("Photo below.")
    mail.add_alternative(
        '<p>Photo below.</p><img src="cid:photo.1@customer.test" alt="box">'
        '<img src="https://tracker.example/pixel.gif">'
        "<script>window.pwned = 1</script>",
        subtype="html",
    )
    mail.get_payload()[1].add_related(PNG, "image", "png", cid="<photo.1@customer.test>")

    message = receive(email_inbox, mail)
    html = rendered(message)

    image = message.attachments.get(content_type="image/png")
    assert f'src="/attachments/{image.pk}/"' in html
    assert "tracker.example" not in html
    assert "<script>window.pwned" not in html
    assert "Show the formatted e-mail" in html


def test_a_plain_mail_has_no_formatted_version(email_inbox):
    html = rendered(receive(email_inbox, plain_mail("Just text.")))

    assert "Just text." in html
    assert "Show the formatted e-mail" not in html
