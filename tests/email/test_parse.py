"""Reading inbound mail: one raw RFC 822 message becomes one InboundMessage."""

import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from textwrap import dedent
from types import SimpleNamespace

import pytest

from inbox.providers import ADAPTERS
from inbox.providers.base import InboundMedia, PayloadInvalid, SignatureInvalid
from inbox.providers.email import EmailAdapter
from tests.email.mails import PDF, PNG, plain_mail

CONVERSATION_UUID = "3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b"
INBOUND = "inbound.switchboard.localhost"


@pytest.fixture(autouse=True)
def inbound_domain(settings):
    settings.INBOUND_EMAIL_DOMAIN = INBOUND


def adapter():
    return EmailAdapter(SimpleNamespace(provider_config={"address": "support@acme.test"}))


def parse(raw):
    delivery = adapter().parse(raw, "message/rfc822")
    assert delivery.statuses == []
    [message] = delivery.messages
    return message


def raw_mail(text, charset="utf-8"):
    """A hand-written mail: headers and body as a client puts them on the wire."""
    return dedent(text).lstrip("\n").replace("\n", "\r\n").encode(charset)


GMAIL_REPLY = raw_mail(
    f"""
    MIME-Version: 1.0
    Date: Mon, 3 Jun 2024 12:15:09 +0200
    References: <root.1@customer.test> <{CONVERSATION_UUID}.41@{INBOUND}>
    In-Reply-To: <{CONVERSATION_UUID}.41@{INBOUND}>
    Message-ID: <CAF=reply+2@mail.gmail.com>
    Subject: Re: Where is my order?
    From: =?UTF-8?Q?Ana_Garc=C3=ADa?= <Ana.Garcia@Customer.test>
    To: Acme Support <reply+{CONVERSATION_UUID}@{INBOUND}>
    Cc: Bob <bob@customer.test>
    Content-Type: multipart/alternative; boundary="000000000000b1"

    --000000000000b1
    Content-Type: text/plain; charset="UTF-8"
    Content-Transfer-Encoding: quoted-printable

    Thanks, that helps! I'll wait until Friday.

    On Mon, 3 Jun 2024 at 10:02, Acme Support <support@acme.test>
    wrote:

    > Your order ships today.
    >
    > Ana Agent
    >

    --000000000000b1
    Content-Type: text/html; charset="UTF-8"
    Content-Transfer-Encoding: quoted-printable

    <div dir=3D"ltr">Thanks, that helps! I&#39;ll wait until Friday.</div><br><div =
    class=3D"gmail_quote"><div dir=3D"ltr" class=3D"gmail_attr">On Mon, 3 Jun 2024 =
    at 10:02, Acme Support &lt;<a href=3D"mailto:support@acme.test">support@acme.test=
    </a>&gt; wrote:<br></div><blockquote class=3D"gmail_quote" style=3D"margin:0px">=
    Your order ships today.<br><br>Ana Agent</blockquote></div>

    --000000000000b1--
    """
)


def test_adapter_is_registered_for_email_inboxes():
    assert ADAPTERS["email"] is EmailAdapter


def test_gmail_reply_gives_the_new_text_and_keeps_the_quote_aside():
    message = parse(GMAIL_REPLY)

    assert message.body == "Thanks, that helps! I'll wait until Friday."
    assert message.content_attributes["quoted"].startswith("On Mon, 3 Jun 2024 at 10:02")
    assert "> Your order ships today." in message.content_attributes["quoted"]


def test_sender_is_the_lowercased_address_with_the_decoded_name():
    message = parse(GMAIL_REPLY)

    assert message.sender.external_id == "ana.garcia@customer.test"
    assert message.sender.email == "Ana.Garcia@Customer.test"
    assert message.sender.name == "Ana García"


def test_message_id_is_the_external_id_without_brackets():
    message = parse(GMAIL_REPLY)

    assert message.external_id == "CAF=reply+2@mail.gmail.com"
    assert message.content_attributes["message_id"] == "CAF=reply+2@mail.gmail.com"


def test_headers_are_kept_as_content_attributes():
    attributes = parse(GMAIL_REPLY).content_attributes

    assert attributes["subject"] == "Re: Where is my order?"
    assert attributes["from"] == "Ana García <Ana.Garcia@Customer.test>"
    assert attributes["to"] == [f"Acme Support <reply+{CONVERSATION_UUID}@{INBOUND}>"]
    assert attributes["cc"] == ["Bob <bob@customer.test>"]
    assert attributes["in_reply_to"] == f"{CONVERSATION_UUID}.41@{INBOUND}"
    assert attributes["references"] == [
        "root.1@customer.test",
        f"{CONVERSATION_UUID}.41@{INBOUND}",
    ]


def test_thread_refs_are_in_reply_to_then_references_newest_first():
    message = parse(GMAIL_REPLY)

    assert message.thread_refs == (
        f"{CONVERSATION_UUID}.41@{INBOUND}",
        "root.1@customer.test",
    )


def test_reply_address_names_the_conversation():
    assert parse(GMAIL_REPLY).conversation_uuid == CONVERSATION_UUID


@pytest.mark.parametrize("header", ["Cc", "Delivered-To"])
def test_reply_address_is_found_in_cc_and_delivered_to(header):
    mail = plain_mail(**{header.replace("-", "_"): f"reply+{CONVERSATION_UUID.upper()}@{INBOUND}"})

    assert parse(mail.as_bytes()).conversation_uuid == CONVERSATION_UUID


def test_reply_address_of_another_domain_is_ignored():
    mail = plain_mail(to=f"reply+{CONVERSATION_UUID}@elsewhere.test")

    assert parse(mail.as_bytes()).conversation_uuid == ""


def test_reply_address_with_a_malformed_uuid_is_ignored():
    mail = plain_mail(to=f"reply+{'z' * 32}@{INBOUND}")

    assert parse(mail.as_bytes()).conversation_uuid == ""


def test_timestamp_is_the_date_header():
    assert parse(GMAIL_REPLY).timestamp == datetime(2024, 6, 3, 10, 15, 9, tzinfo=UTC)


def test_html_part_is_kept_sanitised():
    html = parse(GMAIL_REPLY).content_attributes["html"]

    assert "Thanks, that helps!" in html
    assert "<blockquote>" in html
    assert "style=" not in html
    assert "class=" not in html


def test_a_new_mail_has_no_thread_refs_and_no_quote():
    message = parse(plain_mail().as_bytes())

    assert message.body == "Hello, my order has not arrived."
    assert message.thread_refs == ()
    assert message.conversation_uuid == ""
    assert message.content_attributes["quoted"] == ""
    assert message.content_attributes["in_reply_to"] == ""
    assert message.content_attributes["references"] == []
    assert message.content_attributes["html"] == ""


def test_html_only_mail_gets_its_text_from_the_sanitised_html():
    raw = raw_mail(
        """
        From: Shop Customer <c@customer.test>
        To: support@acme.test
        Subject: Broken item
        Message-ID: <html-only@customer.test>
        Content-Type: text/html; charset=utf-8

        <html><head><style>p {color: red}</style><title>Mail</title></head>
        <body><p>The mug arrived <b>broken</b>.</p>
        <p>Photos:</p><ul><li>handle</li><li>base</li></ul>
        <script>alert("x")</script></body></html>
        """
    )

    message = parse(raw)

    assert message.body == "The mug arrived broken.\n\nPhotos:\n\n- handle\n- base"
    assert "<script" not in message.content_attributes["html"]
    assert "color: red" not in message.content_attributes["html"]


def test_html_only_reply_folds_the_blockquote():
    raw = raw_mail(
        """
        From: c@customer.test
        To: support@acme.test
        Subject: Re: Broken item
        Message-ID: <html-reply@customer.test>
        Content-Type: text/html; charset=utf-8

        <div>Yes, please send a new one.</div>
        <div>On Tue, 4 Jun 2024, Acme Support wrote:</div>
        <blockquote>Shall we send a replacement?</blockquote>
        """
    )

    message = parse(raw)

    assert message.body == "Yes, please send a new one."
    assert message.content_attributes["quoted"] == (
        "On Tue, 4 Jun 2024, Acme Support wrote:\n> Shall we send a replacement?"
    )


def test_iso_8859_1_body_and_encoded_word_subject_are_decoded():
    raw = raw_mail(
        """
        From: =?ISO-8859-1?Q?Fran=E7ois_L=E9ger?= <francois@customer.test>
        To: support@acme.test
        Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me_=E0_livrer?= =?UTF-8?B?IOKCrDEy?=
        Message-ID: <latin1@customer.test>
        Content-Type: text/plain; charset=ISO-8859-1
        Content-Transfer-Encoding: 8bit

        Bonjour, la livraison a échoué à Noël.
        """,
        charset="latin-1",
    )

    message = parse(raw)

    assert message.content_attributes["subject"] == "Café crème à livrer €12"
    assert message.sender.name == "François Léger"
    assert message.body == "Bonjour, la livraison a échoué à Noël."


def test_windows_1252_punctuation_declared_as_latin_1_is_read_as_meant():
    raw = raw_mail(
        """
        From: c@customer.test
        To: support@acme.test
        Subject: Quotes
        Message-ID: <cp1252@customer.test>
        Content-Type: text/plain; charset=iso-8859-1
        Content-Transfer-Encoding: quoted-printable

        It=92s =93fine=94 =96 costs =80 5.
        """
    )

    assert parse(raw).body == "It’s “fine” – costs € 5."


def test_unknown_charset_falls_back_to_utf8():
    raw = raw_mail(
        """
        From: c@customer.test
        To: support@acme.test
        Subject: Odd charset
        Message-ID: <odd@customer.test>
        Content-Type: text/plain; charset=x-made-up
        Content-Transfer-Encoding: 8bit

        Grüße aus Köln
        """
    )

    assert parse(raw).body == "Grüße aus Köln"


def test_raw_utf8_headers_are_decoded():
    raw = raw_mail(
        """
        From: Jürgen Groß <juergen@customer.test>
        To: support@acme.test
        Subject: Größe falsch
        Message-ID: <raw-utf8@customer.test>
        Content-Type: text/plain; charset=utf-8

        Hallo
        """
    )

    message = parse(raw)

    assert message.sender.name == "Jürgen Groß"
    assert message.content_attributes["subject"] == "Größe falsch"


def test_format_flowed_text_is_joined_back_into_paragraphs():
    raw = raw_mail(
        """
        From: c@customer.test
        To: support@acme.test
        Subject: Flowed
        Message-ID: <flowed@customer.test>
        Content-Type: text/plain; charset=utf-8; format=flowed

        This is a long line that my mail client wrapped at seventy-two \n\
        characters for me.
        Second line.
        """
    )

    assert parse(raw).body == (
        "This is a long line that my mail client wrapped at seventy-two characters for me.\n"
        "Second line."
    )


def mail_with_files():
    mail = EmailMessage()
    mail["From"] = "Ana <ana@customer.test>"
    mail["To"] = "support@acme.test"
    mail["Subject"] = "Invoice and photo"
    mail["Message-ID"] = "<files@customer.test>"
    mail.set_content("Invoice attached, photo below.")
    mail.add_alternative(
        '<p>Invoice attached, photo below.</p><img src="cid:photo.1@customer.test" alt="box">',
        subtype="html",
    )
    html = mail.get_payload()[1]
    html.add_related(PNG, "image", "png", cid="<photo.1@customer.test>")
    mail.add_attachment(PDF, "application", "pdf", filename="Rechnung März.pdf")
    return mail.as_bytes()


def test_attachments_and_inline_images_arrive_as_media_with_their_bytes():
    message = parse(mail_with_files())

    assert message.body == "Invoice attached, photo below."
    by_type = {media.content_type: media for media in message.media}
    assert set(by_type) == {"image/png", "application/pdf"}
    assert by_type["application/pdf"].content == PDF
    assert by_type["application/pdf"].filename == "Rechnung März.pdf"
    assert by_type["application/pdf"].size == len(PDF)
    assert by_type["image/png"].content == PNG
    assert by_type["image/png"].ref == "cid:photo.1@customer.test"
    assert by_type["image/png"].filename.endswith(".png")


def test_inline_image_stays_in_the_sanitised_html():
    html = parse(mail_with_files()).content_attributes["html"]

    assert '<img src="cid:photo.1@customer.test" alt="box">' in html


def test_an_attached_mail_is_one_eml_file():
    inner = plain_mail("Forwarded body", message_id="<inner@customer.test>")
    outer = plain_mail("See the mail below.", message_id="<outer@customer.test>")
    outer.add_attachment(inner)

    message = parse(outer.as_bytes())

    [media] = message.media
    assert media.content_type == "message/rfc822"
    assert media.filename.endswith(".eml")
    assert b"Forwarded body" in media.content
    assert message.body == "See the mail below."


def test_a_calendar_invite_is_a_file():
    mail = plain_mail("Can we talk on Friday?", message_id="<invite@customer.test>")
    mail.add_attachment(
        "BEGIN:VCALENDAR\nEND:VCALENDAR\n", subtype="calendar", disposition="inline"
    )

    message = parse(mail.as_bytes())

    assert [media.content_type for media in message.media] == ["text/calendar"]
    assert message.body == "Can we talk on Friday?"


def test_text_split_around_an_inline_image_is_read_in_order():
    mail = plain_mail("Here is the damage:", message_id="<split@customer.test>")
    mail.add_attachment(PNG, "image", "png", disposition="inline", filename="damage.png")
    mail.add_attachment("And the label is torn too.", disposition="inline")
    mail.add_attachment("<p>ignored html</p>", subtype="html", disposition="inline")

    message = parse(mail.as_bytes())

    assert message.body == "Here is the damage:\n\nAnd the label is torn too."
    assert [media.filename for media in message.media] == ["damage.png"]


def test_outlook_reply_folds_the_original_message_block():
    raw = raw_mail(
        """
        From: Bob Buyer <bob@customer.test>
        To: support@acme.test
        Subject: RE: Refund
        Message-ID: <AM0PR01.outlook@customer.test>
        Content-Type: text/plain; charset=utf-8

        Fine by me, go ahead.

        Bob

        -----Original Message-----
        From: Acme Support <support@acme.test>
        Sent: Monday, June 3, 2024 10:02 AM
        To: Bob Buyer <bob@customer.test>
        Subject: Refund

        Shall we refund the order?
        """
    )

    message = parse(raw)

    assert message.body == "Fine by me, go ahead.\n\nBob"
    assert message.content_attributes["quoted"].startswith("-----Original Message-----")
    assert "Shall we refund the order?" in message.content_attributes["quoted"]


def test_outlook_header_block_without_the_original_message_line_is_folded():
    raw = raw_mail(
        """
        From: bob@customer.test
        To: support@acme.test
        Subject: RE: Refund
        Message-ID: <outlook-web@customer.test>
        Content-Type: text/plain; charset=utf-8

        Thanks!
        ________________________________
        From: Acme Support <support@acme.test>
        Sent: 03 June 2024 10:02
        To: bob@customer.test
        Subject: Refund

        Done.
        """
    )

    message = parse(raw)

    assert message.body == "Thanks!"
    assert message.content_attributes["quoted"].startswith("_____")


def test_missing_message_id_gets_a_stable_hash_of_the_raw_bytes():
    raw = plain_mail(message_id=None).as_bytes()

    first, again = parse(raw), parse(raw)

    assert first.external_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert again.external_id == first.external_id
    assert first.content_attributes["message_id"] == ""


def test_our_own_mail_coming_back_is_an_echo():
    mail = plain_mail(message_id=f"<{CONVERSATION_UUID}.42@{INBOUND}>")

    assert parse(mail.as_bytes()).is_echo is True
    assert parse(plain_mail().as_bytes()).is_echo is False


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n",
        b'{"object": "page", "entry": []}',
        b"Subject: no sender\r\n\r\nbody",
        b"From: not an address\r\n\r\nbody",
    ],
)
def test_something_that_is_not_an_email_is_payload_invalid(raw):
    with pytest.raises(PayloadInvalid):
        adapter().parse(raw, "message/rfc822")


def test_a_delivery_of_another_content_type_is_payload_invalid():
    with pytest.raises(PayloadInvalid):
        adapter().parse(plain_mail().as_bytes(), "application/json")


def test_no_webhook_request_is_ever_accepted():
    with pytest.raises(SignatureInvalid):
        adapter().verify_request(SimpleNamespace(headers={}), b"From: a@b.c\r\n\r\nhi")


def test_media_is_fetched_from_the_mail_itself():
    media = InboundMedia(
        ref="part:2", content_type="application/pdf", filename="a.pdf", content=PDF
    )

    fetched = adapter().fetch_media(media)

    assert fetched.content == PDF
    assert fetched.content_type == "application/pdf"
    assert fetched.filename == "a.pdf"
