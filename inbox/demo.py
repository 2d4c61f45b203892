"""Demo data: people, inboxes and realistic history to explore Switchboard with."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from contacts.models import Contact, ContactIdentity
from conversations.models import (
    AuthorType,
    Conversation,
    DeliveryStatus,
    Direction,
    Label,
    Message,
    Status,
)
from inbox.models import Inbox, InboxKind, Role, Team, User

DEMO_PASSWORD = "switchboard"  # noqa: S105 - documented demo-only password

DEMO_USERS = [
    ("admin@example.com", "Ada Admin", Role.ADMIN, "en"),
    ("supervisor@example.com", "Luis Supervisor", Role.SUPERVISOR, "es"),
    ("agent@example.com", "Ana Agent", Role.AGENT, "en"),
    ("agent2@example.com", "Marco Agent", Role.AGENT, "it"),
]

# (name, e-mail, language, assigned to Ana?, [(who, minutes ago, text)])
DEMO_CONVERSATIONS = [
    (
        "Emma Clarke",
        "emma.clarke@example.net",
        "en",
        True,
        [
            ("c", 95, "Hi! My order #4411 says delivered but nothing arrived."),
            ("a", 90, "Sorry about that, Emma. Let me check with the courier."),
            (
                "a",
                88,
                "The courier left it at the reception of your building. Could you check there?",
            ),
            ("c", 12, "Found it, thank you! One bag was torn though."),
        ],
    ),
    (
        "Javier Morales",
        "javier.morales@example.es",
        "es",
        False,
        [
            ("c", 7, "Hola, ¿hacéis envíos a Canarias?"),
            ("c", 6, "Y si es así, ¿cuánto tarda en llegar?"),
        ],
    ),
    (
        "Giulia Ferri",
        "giulia.ferri@example.it",
        "it",
        True,
        [
            ("c", 240, "Buongiorno, vorrei cambiare l'indirizzo di consegna del mio ordine."),
            ("a", 230, "Certo Giulia, mi scriva il nuovo indirizzo e lo aggiorno subito."),
            ("c", 225, "Via Garibaldi 12, Torino. Grazie mille!"),
            ("a", 220, "Fatto! Riceverà una conferma via e-mail."),
        ],
    ),
    (
        "Noah Patel",
        "noah.patel@example.com",
        "en",
        False,
        [
            ("c", 33, "Is the Ethiopia Guji still in stock in 1 kg bags?"),
        ],
    ),
    (
        "Lucía Fernández",
        "lucia.f@example.es",
        "es",
        True,
        [
            ("c", 500, "Me llegó el molinillo pero hace un ruido raro."),
            ("a", 480, "¡Vaya! ¿Podrías enviarnos un vídeo corto del ruido?"),
            ("c", 60, "Te lo mando esta tarde."),
        ],
    ),
    (
        "Matteo Russo",
        "matteo.russo@example.it",
        "it",
        False,
        [
            ("c", 3, "Ciao! Avete la decaffeinata in grani?"),
        ],
    ),
    (
        "Olivia Brown",
        "olivia.b@example.co.uk",
        "en",
        True,
        [
            ("c", 1440, "Can I pause my subscription for August?"),
            ("a", 1430, "Of course. I've paused August; deliveries resume in September."),
            ("c", 1425, "Perfect, thanks!"),
        ],
    ),
    (
        "Carmen Ruiz",
        "carmen.ruiz@example.es",
        "es",
        False,
        [
            ("c", 18, "¿Tenéis tarjetas regalo?"),
            ("c", 17, "Es para el cumpleaños de mi hermano 🎁"),
        ],
    ),
    (
        "Francesca Bianchi",
        "f.bianchi@example.it",
        "it",
        False,
        [
            ("c", 75, "Il codice sconto BENVENUTO10 non funziona."),
        ],
    ),
    (
        "Liam O'Connor",
        "liam.oconnor@example.ie",
        "en",
        True,
        [
            ("c", 300, "What grind size do you recommend for an AeroPress?"),
            (
                "a",
                290,
                "A medium-fine grind, a little coarser than espresso. Brew for about two minutes.",
            ),
        ],
    ),
    (
        "Sofía Navarro",
        "sofia.navarro@example.mx",
        "es",
        False,
        [
            ("c", 45, "Quiero devolver un paquete, ¿cómo lo hago?"),
        ],
    ),
    (
        "Alessandro Conti",
        "a.conti@example.it",
        "it",
        True,
        [
            ("c", 130, "Ho ricevuto due volte lo stesso ordine."),
            (
                "a",
                120,
                "Grazie per la segnalazione! Le invio un'etichetta per restituire il doppio.",
            ),
            ("c", 20, "Ricevuta, spedisco domani."),
        ],
    ),
]


# One inbox of every messaging kind, pointed at the provider sandbox (`manage.py sandbox`).
# Fixed, documented credentials: demo only.
DEMO_APP_SECRET = "demo-app-secret"  # noqa: S105 (demo only, documented)
DEMO_VERIFY_TOKEN = "demo-verify-token"  # noqa: S105 (demo only, documented)
DEMO_TWILIO_ACCOUNT_SID = "AC00000000000000000000000000000001"
DEMO_PROVIDER_INBOXES = [
    (
        InboxKind.WHATSAPP,
        "WhatsApp",
        {
            "phone_number_id": "100000000000001",
            "waba_id": "200000000000001",
            "display_phone_number": "15550001111",
        },
        {
            "access_token": "demo-whatsapp-token",
            "app_secret": DEMO_APP_SECRET,
            "verify_token": DEMO_VERIFY_TOKEN,
        },
    ),
    (
        InboxKind.MESSENGER,
        "Messenger",
        {"page_id": "300000000000001"},
        {
            "page_token": "demo-page-token",
            "app_secret": DEMO_APP_SECRET,
            "verify_token": DEMO_VERIFY_TOKEN,
        },
    ),
    (
        InboxKind.INSTAGRAM,
        "Instagram",
        {"page_id": "300000000000002", "instagram_account_id": "400000000000001"},
        {
            "page_token": "demo-instagram-page-token",
            "app_secret": DEMO_APP_SECRET,
            "verify_token": DEMO_VERIFY_TOKEN,
        },
    ),
    (
        InboxKind.TELEGRAM,
        "Telegram",
        {"bot_username": "switchboard_demo_bot", "mode": "webhook"},
        {"bot_token": "123456:demo-telegram-bot-token", "secret_token": "demo-telegram-secret"},
    ),
    (
        InboxKind.TWILIO_SMS,
        "SMS",
        {"account_sid": DEMO_TWILIO_ACCOUNT_SID, "from_number": "+15005550006"},
        {"auth_token": "demo-twilio-token"},
    ),
    (
        InboxKind.TWILIO_WHATSAPP,
        "WhatsApp (Twilio)",
        {"account_sid": DEMO_TWILIO_ACCOUNT_SID, "from_number": "whatsapp:+14155238886"},
        {"auth_token": "demo-twilio-token"},
    ),
    (
        InboxKind.EMAIL,
        "E-mail",
        {"address": "support@switchboard.localhost"},
        {},
    ),
]


def ensure_provider_inboxes():
    """The demo's provider inboxes, created once with the sandbox credentials."""
    inboxes = []
    for kind, name, config, secrets in DEMO_PROVIDER_INBOXES:
        inbox = Inbox.objects.filter(kind=kind, name=name).first()
        if inbox is None:
            inbox = Inbox.objects.create(
                kind=kind, name=name, provider_config=config, provider_secrets=secrets
            )
        inboxes.append(inbox)
    return inboxes


@transaction.atomic
def load_demo_data():
    """Create the demo workspace. Safe to run again: existing demo data is left as it is."""
    users = {}
    for email, name, role, language in DEMO_USERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email, DEMO_PASSWORD, display_name=name, role=role, language=language
            )
        users[email] = user

    widget, created = Inbox.objects.get_or_create(
        kind=InboxKind.WEB_WIDGET,
        name="Website chat",
        defaults={
            "provider_config": {"greeting": "Hi! Ask us anything about your coffee."},
            "provider_secrets": {"identity_secret": "demo-identity-secret"},
        },
    )
    widget.members.add(users["agent@example.com"])
    for inbox in ensure_provider_inboxes():
        inbox.members.add(users["agent@example.com"])
    team, _ = Team.objects.get_or_create(name="Customer care")
    team.members.add(users["agent@example.com"], users["supervisor@example.com"])
    if not created:
        return users, widget

    labels = [
        Label.objects.get_or_create(name=name, defaults={"color": color})[0]
        for name, color in (("shipping", "#2563eb"), ("billing", "#d97706"), ("vip", "#7c3aed"))
    ]
    now = timezone.now()
    ana = users["agent@example.com"]
    for index, (name, email, language, assigned, lines) in enumerate(DEMO_CONVERSATIONS):
        contact = Contact.objects.create(
            name=name,
            email=email,
            language=language,
            created_at=now - timedelta(days=30 - index),
        )
        identity = ContactIdentity.objects.create(
            contact=contact, inbox=widget, external_id=f"visitor:demo-{index}", display_name=name
        )
        started = now - timedelta(minutes=lines[0][1])
        conversation = Conversation.objects.create(
            inbox=widget,
            channel=widget.kind,
            contact=contact,
            contact_identity=identity,
            status=Status.OPEN,
            assignee=ana if assigned else None,
            team=team,
            created_at=started,
            last_message_at=started,
        )
        waiting_since = None
        last = None
        for who, minutes_ago, text in lines:
            at = now - timedelta(minutes=minutes_ago)
            from_customer = who == "c"
            last = Message.objects.create(
                conversation=conversation,
                inbox=widget,
                direction=Direction.INBOUND if from_customer else Direction.OUTBOUND,
                author_type=AuthorType.CONTACT if from_customer else AuthorType.AGENT,
                author=None if from_customer else ana,
                body=text,
                created_at=at,
                status="" if from_customer else DeliveryStatus.READ,
                status_changed_at=None if from_customer else at,
            )
            if from_customer:
                waiting_since = waiting_since or at
                conversation.last_customer_message_at = at
            else:
                waiting_since = None
                conversation.first_response_at = conversation.first_response_at or at
        if index % 3 == 0:
            conversation.labels.add(labels[index % 2])
        if index == 2:
            conversation.labels.add(labels[2])
            conversation.priority = 3
        conversation.last_message = last
        conversation.last_message_at = last.created_at
        conversation.waiting_since = waiting_since
        conversation.save()
    return users, widget
