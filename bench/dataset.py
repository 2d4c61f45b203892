"""The bench dataset: built once per scale by bulk loading, reused by every later run.

The database `switchboard_bench_<scale>` is migrated like any Switchboard database, then
filled with PostgreSQL COPY into the real tables (secondary indexes dropped during the
load and rebuilt after it, foreign-key triggers off for the load's session), and the id
sequences are moved past the loaded rows. A one-row table, `bench_marker`, records the
parameters it was built with and the highest ids it holds; a run with other parameters
rebuilds it, a run with the same ones resets what the previous run added and reuses it.

What is in it: WhatsApp inboxes; agents (each a member of one inbox) and supervisors
(who see every inbox); contacts, each with one identity on one inbox and about two
conversations there (the latest open, pending, snoozed or resolved, older ones resolved);
messages in English, Spanish and Italian, customer and agent turns; labels on about a
third of the conversations; read markers for assignees; one conversation with
`long_thread` messages. Ten rare words are planted in a few messages each, for search.
"""

import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

SEED = 20261203
# 4: inbox secrets encrypted with the bench-only key (config.BENCH_FIELD_ENCRYPTION_KEY);
# 5: messages' stored search document; 6: contacts' trigram indexes (built by migrations).
FORMAT_VERSION = 6
PASSWORD = "bench-password"  # noqa: S105 - the bench users' own, on the bench database

RARE_WORDS = [
    "quokka",
    "xilofono",
    "ornitorrinco",
    "zampogna",
    "kumquat",
    "tamborilero",
    "pergamena",
    "mandolino",
    "cachivache",
    "ukulele",
]
COMMON_WORDS = ["pedido", "order", "grazie", "hello", "envío"]
PHRASES = ['"tracking number"', '"número de seguimiento"', '"non funziona"']
LABELS = ["billing", "shipping", "returns", "vip", "bug", "wholesale", "feedback", "urgent"]

FIRST_NAMES = [
    "Lucía",
    "Martín",
    "Sofía",
    "Hugo",
    "Valentina",
    "Mateo",
    "Giulia",
    "Lorenzo",
    "Chiara",
    "Alessandro",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Paula",
    "Daniel",
    "Francesca",
    "Matteo",
    "Carmen",
    "Javier",
    "Elena",
    "Marco",
    "Sara",
    "Pablo",
    "Anna",
    "Luca",
    "Marta",
    "Diego",
    "Alice",
    "Tommaso",
    "Laura",
    "Andrés",
    "Beatrice",
    "Leonardo",
    "Isabel",
    "Sergio",
    "Grace",
    "Oliver",
    "Amelia",
    "Jack",
]
LAST_NAMES = [
    "Fernández",
    "García",
    "Rossi",
    "Russo",
    "Smith",
    "Johnson",
    "López",
    "Martínez",
    "Bianchi",
    "Romano",
    "Brown",
    "Taylor",
    "Sánchez",
    "Pérez",
    "Colombo",
    "Ricci",
    "Wilson",
    "Evans",
    "Gómez",
    "Díaz",
    "Marino",
    "Greco",
    "Walker",
    "Wright",
    "Ruiz",
    "Hernández",
    "Bruno",
    "Gallo",
    "Roberts",
    "Clarke",
    "Moreno",
    "Muñoz",
    "Conti",
    "Esposito",
    "Hall",
    "Wood",
    "Álvarez",
    "Romero",
    "Costa",
    "Fontana",
]
PRODUCTS = {
    "en": ["coffee grinder", "espresso machine", "milk frother", "kettle", "scale", "filter"],
    "es": ["molinillo", "cafetera", "espumador", "hervidor", "báscula", "filtro"],
    "it": ["macinacaffè", "macchina espresso", "montalatte", "bollitore", "bilancia", "filtro"],
}
CITIES = ["Madrid", "Sevilla", "Milano", "Roma", "London", "Valencia", "Torino", "Napoli"]
CUSTOMER = {
    "en": [
        "Hello, I ordered a {product} last week and it has not arrived. Order {number}.",
        "Hi, could you send me the tracking number for order {number}?",
        "The {product} I received does not turn on. Can I get a replacement?",
        "Do you ship to {city}? I would like to buy the {product}.",
        "Thanks a lot, the {product} works great now!",
        "My order {number} arrived damaged, the box was open.",
        "Can I change the delivery address of my order to {city}?",
        "Is the {product} in stock again? I have been waiting for weeks.",
    ],
    "es": [
        "Hola, hice un pedido de un {product} y todavía no ha llegado. Pedido {number}.",
        "¿Me podéis enviar el número de seguimiento del pedido {number}?",
        "El {product} que recibí no funciona. ¿Me lo podéis cambiar?",
        "¿Hacéis envío a {city}? Quiero comprar la {product}.",
        "Muchas gracias, el {product} ya va perfecto.",
        "Mi pedido {number} llegó roto, la caja estaba abierta.",
        "¿Puedo cambiar la dirección de envío a {city}?",
        "¿Cuándo vuelve a haber {product}? Llevo semanas esperando.",
    ],
    "it": [
        "Buongiorno, ho ordinato un {product} ma non è ancora arrivato. Ordine {number}.",
        "Mi potete mandare il numero di tracciamento dell'ordine {number}?",
        "Il {product} che ho ricevuto non funziona. Posso avere un cambio?",
        "Spedite a {city}? Vorrei comprare il {product}.",
        "Grazie mille, il {product} adesso funziona benissimo!",
        "Il mio ordine {number} è arrivato danneggiato, la scatola era aperta.",
        "Posso cambiare l'indirizzo di consegna a {city}?",
        "Il {product} è di nuovo disponibile? Aspetto da settimane.",
    ],
}
AGENT = {
    "en": [
        "Hi {name}, thanks for writing. Order {number} ships tomorrow.",
        "Sorry about that! I have sent a new {product} to {city}.",
        "Here is your tracking number: {number}. Anything else I can do?",
        "You are welcome, have a great day!",
    ],
    "es": [
        "Hola {name}, gracias por escribir. El pedido {number} sale mañana.",
        "¡Lo siento mucho! Te hemos enviado un {product} nuevo a {city}.",
        "Tu número de seguimiento es {number}. ¿Algo más?",
        "De nada, ¡que tengas un buen día!",
    ],
    "it": [
        "Ciao {name}, grazie per averci scritto. L'ordine {number} parte domani.",
        "Ci dispiace! Abbiamo spedito un nuovo {product} a {city}.",
        "Il numero di tracciamento è {number}. Posso aiutarti in altro?",
        "Prego, buona giornata!",
    ],
}


@dataclass
class Dataset:
    """What the measurements need to know about the stored data."""

    inbox_ids: list
    agent_ids: list  # agent_ids[k] is a member of inbox_ids[k % len(inbox_ids)]
    supervisor_ids: list
    label_ids: list
    long_thread_id: int
    max_ids: dict
    contact_names: list
    built_in_s: float | None = None


# -- the database itself --------------------------------------------------------------------


def _server_connection(environment):
    """A connection to the server's maintenance database, for CREATE/DROP DATABASE."""
    info = psycopg.conninfo.conninfo_to_dict(environment.server_url)
    info["dbname"] = "postgres"
    return psycopg.connect(**info, autocommit=True)


def _marker(environment):
    try:
        with psycopg.connect(environment.database_url, connect_timeout=5) as conn:
            row = conn.execute("SELECT payload FROM bench_marker").fetchone()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None
    return row[0] if row else None


def wanted_marker(scale):
    return {"format": FORMAT_VERSION, "seed": SEED, **scale.dataset_key()}


def ensure(environment, log=print):
    """The dataset for this scale: reused when its marker matches, else built afresh."""
    marker = _marker(environment)
    wanted = wanted_marker(environment.scale)
    if marker and marker.get("parameters") == wanted:
        log(f"dataset: reusing {environment.database_name} (built {marker['built_at']})")
        reset(environment, marker)
        return _dataset_from(marker)
    log(f"dataset: building {environment.database_name} ({_summary(environment.scale)})")
    started = time.perf_counter()
    with _server_connection(environment) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{environment.database_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{environment.database_name}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    log(f"dataset: migrated in {time.perf_counter() - started:.0f} s")
    marker = build(environment, log)
    marker["built_in_s"] = round(time.perf_counter() - started, 1)
    with psycopg.connect(environment.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_marker (payload jsonb NOT NULL)")
        conn.execute("INSERT INTO bench_marker VALUES (%s)", [json.dumps(marker)])
    log(f"dataset: built in {marker['built_in_s']} s")
    dataset = _dataset_from(marker)
    dataset.built_in_s = marker["built_in_s"]
    return dataset


def _summary(scale):
    return (
        f"{scale.inboxes} inboxes, {scale.agents} agents, {scale.supervisors} supervisors, "
        f"{scale.contacts:,} contacts, {scale.conversations:,} conversations, "
        f"{scale.messages:,} messages"
    )


def _dataset_from(marker):
    return Dataset(
        inbox_ids=marker["inbox_ids"],
        agent_ids=marker["agent_ids"],
        supervisor_ids=marker["supervisor_ids"],
        label_ids=marker["label_ids"],
        long_thread_id=marker["long_thread_id"],
        max_ids=marker["max_ids"],
        contact_names=marker["contact_names"],
    )


# -- building -------------------------------------------------------------------------------


def _staff(scale):
    """Inboxes, users and labels through the ORM: few rows, and secrets are encrypted."""
    from django.contrib.auth.hashers import make_password

    from conversations.models import Label
    from inbox.models import Availability, Inbox, InboxKind, Role, User

    inboxes = [
        Inbox.objects.create(
            name=f"WhatsApp {n + 1:02d}",
            kind=InboxKind.WHATSAPP,
            provider_config={
                "phone_number_id": f"10000000{n:02d}",
                "waba_id": f"20000000{n:02d}",
                "display_phone_number": f"+34 600 000 0{n:02d}",
            },
            provider_secrets={
                "access_token": f"bench-token-{n}",
                "app_secret": f"bench-app-secret-{n}",
                "verify_token": f"bench-verify-{n}",
            },
        )
        for n in range(scale.inboxes)
    ]
    password = make_password(PASSWORD)
    rng = random.Random(SEED)
    languages = ["en"] * 5 + ["es"] * 3 + ["it"] * 2

    def person(email, role, n):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        return User(
            email=email,
            password=password,
            display_name=f"{first} {last}",
            role=role,
            language=languages[n % len(languages)],
            availability=Availability.ONLINE,
        )

    agents = User.objects.bulk_create(
        [person(f"agent{n:04d}@bench.example", Role.AGENT, n) for n in range(scale.agents)]
    )
    supervisors = User.objects.bulk_create(
        [
            person(f"supervisor{n:03d}@bench.example", Role.SUPERVISOR, n)
            for n in range(scale.supervisors)
        ]
    )
    membership = Inbox.members.through
    membership.objects.bulk_create(
        [
            membership(inbox_id=inboxes[k % len(inboxes)].pk, user_id=agent.pk)
            for k, agent in enumerate(agents)
        ]
    )
    labels = Label.objects.bulk_create([Label(name=name) for name in LABELS])
    return inboxes, agents, supervisors, labels


def _secondary_indexes(cursor, tables):
    """Indexes that back no constraint: dropped for the load, rebuilt after."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = ANY(%s) AND i.schemaname = current_schema()
          AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c
            JOIN pg_class ic ON ic.oid = c.conindid
            WHERE ic.relname = i.indexname)
        """,
        [list(tables)],
    )
    return cursor.fetchall()


LOADED_TABLES = [
    "contacts_contact",
    "contacts_contactidentity",
    "conversations_conversation",
    "conversations_conversation_labels",
    "conversations_message",
    "conversations_conversationread",
]


def _message_counts(rng, conversations, messages):
    """Messages per conversation: skewed (most short, a few long), summing to `messages`."""
    average = max(1.0, messages / max(1, conversations))
    counts = [
        max(1, min(int(rng.expovariate(1 / average)) + 1, 8 * int(average)))
        for _ in range(conversations)
    ]
    difference = messages - sum(counts)
    step = 1 if difference > 0 else -1
    while difference:
        k = rng.randrange(conversations)
        if counts[k] + step >= 1:
            counts[k] += step
            difference -= step
    return counts


def build(environment, log):
    scale = environment.scale
    inboxes, agents, supervisors, labels = _staff(scale)
    inbox_ids = [inbox.pk for inbox in inboxes]
    agent_ids = [agent.pk for agent in agents]
    agents_of = {pk: agent_ids[k :: len(inbox_ids)] for k, pk in enumerate(inbox_ids)}
    label_ids = [label.pk for label in labels]
    rng = random.Random(SEED)
    now = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=365)
    start = now - span - timedelta(days=1)

    with psycopg.connect(environment.database_url) as conn, conn.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        indexes = _secondary_indexes(cursor, LOADED_TABLES)
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')

        # Contacts and their one identity each.
        started = time.perf_counter()
        contacts = []
        with cursor.copy(
            "COPY contacts_contact (id, name, email, phone, language, time_zone,"
            " custom_attributes, created_at, updated_at) FROM STDIN"
        ) as copy:
            for c in range(1, scale.contacts + 1):
                name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
                language = rng.choice(("en", "en", "es", "es", "it"))
                phone = f"+346{c:08d}"
                email = f"customer{c}@mail.example" if c % 3 == 0 else ""
                created = start + span * (c / scale.contacts) * 0.5
                contacts.append((name, language))
                copy.write_row((c, name, email, phone, language, "", "{}", created, created))
        with cursor.copy(
            "COPY contacts_contactidentity (id, contact_id, inbox_id, external_id,"
            " display_name, created_at) FROM STDIN"
        ) as copy:
            for c in range(1, scale.contacts + 1):
                inbox_id = inbox_ids[(c - 1) % len(inbox_ids)]
                created = start + span * (c / scale.contacts) * 0.5
                copy.write_row((c, c, inbox_id, f"346{c:08d}", contacts[c - 1][0], created))
        log(f"dataset: contacts in {time.perf_counter() - started:.1f} s")

        # Conversations, their messages, labels and read markers.
        started = time.perf_counter()
        long_thread = scale.conversations  # the latest conversation
        others = scale.conversations - 1
        counts = _message_counts(rng, others, scale.messages - scale.long_thread)
        message_id = 0
        planted = {word: 0 for word in RARE_WORDS}
        plant_every = max(1, scale.messages // (20 * len(RARE_WORDS)))
        conversation_rows, label_rows, read_rows = [], [], []
        with cursor.copy(
            "COPY conversations_message (id, conversation_id, inbox_id, direction, kind,"
            " author_type, author_id, body, content_attributes, external_id, created_at,"
            " status, error_code, error_message, send_attempts, send_claim, is_edited,"
            " is_deleted) FROM STDIN"
        ) as copy:
            for j in range(1, scale.conversations + 1):
                c = (j - 1) % scale.contacts + 1
                inbox_id = inbox_ids[(c - 1) % len(inbox_ids)]
                name, language = contacts[c - 1]
                latest = j + scale.contacts > scale.conversations
                if j == long_thread:
                    status, count = "open", scale.long_thread
                    created = now - timedelta(days=30)
                    gap = timedelta(days=29) / count
                else:
                    status = (
                        rng.choices(("open", "pending", "snoozed", "resolved"), (40, 10, 5, 45))[0]
                        if latest
                        else "resolved"
                    )
                    count = counts[j - 1]
                    created = start + span * (j / scale.conversations)
                    gap = timedelta(minutes=rng.randint(1, 30))
                assignee = None
                if (status != "resolved" or rng.random() < 0.8) and (
                    j == long_thread or rng.random() < 0.7
                ):
                    assignee = rng.choice(agents_of[inbox_id])
                responder = assignee or rng.choice(agents_of[inbox_id])
                first_response = last_inbound = None
                when = created
                for k in range(count):
                    message_id += 1
                    inbound = k == 0 or rng.random() < 0.55
                    fill = {
                        "product": rng.choice(PRODUCTS[language]),
                        "number": f"{rng.randint(10000, 99999)}",
                        "city": rng.choice(CITIES),
                        "name": name.split(" ")[0],
                    }
                    if inbound:
                        body = rng.choice(CUSTOMER[language]).format(**fill)
                        last_inbound = when
                    else:
                        body = rng.choice(AGENT[language]).format(**fill)
                        first_response = first_response or when
                    if message_id % plant_every == 0:
                        word = RARE_WORDS[(message_id // plant_every) % len(RARE_WORDS)]
                        planted[word] += 1
                        body = f"{body} {word}"
                    copy.write_row(
                        (
                            message_id,
                            j,
                            inbox_id,
                            "inbound" if inbound else "outbound",
                            "text",
                            "contact" if inbound else "agent",
                            None if inbound else responder,
                            body,
                            "{}",
                            f"wamid.bench{message_id}" if inbound else None,
                            when,
                            "" if inbound else "read",
                            "",
                            "",
                            0,
                            "",
                            False,
                            False,
                        )
                    )
                    if k < count - 1:
                        when = when + gap
                last_is_inbound = last_inbound == when
                waiting = last_inbound if (status == "open" and last_is_inbound) else None
                conversation_rows.append(
                    (
                        j,
                        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        inbox_id,
                        "whatsapp",
                        c,
                        c,
                        status,
                        (now + timedelta(days=2)) if status == "snoozed" else None,
                        assignee,
                        rng.choices((0, 1, 2, 3, 4), (70, 10, 10, 7, 3))[0],
                        created,
                        when,
                        message_id,
                        last_inbound,
                        waiting,
                        first_response,
                        when if status == "resolved" else None,
                    )
                )
                roll = rng.random()
                if roll < 0.4:
                    chosen = rng.sample(label_ids, 2 if roll < 0.1 else 1)
                    label_rows.extend((j, label) for label in chosen)
                if assignee and rng.random() < 0.8:
                    read_rows.append((assignee, j, message_id, when))
        log(f"dataset: {message_id:,} messages in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        with cursor.copy(
            "COPY conversations_conversation (id, uuid, inbox_id, channel, contact_id,"
            " contact_identity_id, status, snoozed_until, assignee_id, priority, created_at,"
            " last_message_at, last_message_id, last_customer_message_at, waiting_since,"
            " first_response_at, resolved_at) FROM STDIN"
        ) as copy:
            for row in conversation_rows:
                copy.write_row(row)
        with cursor.copy(
            "COPY conversations_conversation_labels (conversation_id, label_id) FROM STDIN"
        ) as copy:
            for row in label_rows:
                copy.write_row(row)
        with cursor.copy(
            "COPY conversations_conversationread (user_id, conversation_id,"
            " last_read_message_id, updated_at) FROM STDIN"
        ) as copy:
            for row in read_rows:
                copy.write_row(row)
        log(f"dataset: conversations in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        for _name, definition in indexes:
            cursor.execute(definition)
        for table in LOADED_TABLES:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'),"  # noqa: S608 - our table names
                f" GREATEST((SELECT max(id) FROM {table}), 1))",
                [table],
            )
        cursor.execute("SET session_replication_role = origin")
        conn.commit()
        log(f"dataset: indexes and sequences in {time.perf_counter() - started:.1f} s")
    with psycopg.connect(environment.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")

    max_ids = _max_ids(environment)
    names = sorted({name for name, _language in contacts})
    return {
        "parameters": wanted_marker(scale),
        "built_at": now.isoformat(),
        "inbox_ids": inbox_ids,
        "agent_ids": agent_ids,
        "supervisor_ids": [s.pk for s in supervisors],
        "label_ids": label_ids,
        "long_thread_id": long_thread,
        "max_ids": max_ids,
        "planted": planted,
        "contact_names": [names[len(names) // 3], names[2 * len(names) // 3]],
    }


# -- reuse ----------------------------------------------------------------------------------

RESET_TABLES = [
    "contacts_contact",
    "contacts_contactidentity",
    "conversations_conversation",
    "conversations_message",
    "conversations_conversationread",
]


def _max_ids(environment):
    with psycopg.connect(environment.database_url) as conn:
        return {
            table: conn.execute(
                f"SELECT coalesce(max(id), 0) FROM {table}"  # noqa: S608 - our table names
            ).fetchone()[0]
            for table in RESET_TABLES
        }


def reset(environment, marker):
    """Take out what earlier runs added (their messages, contacts, events, sessions)."""
    max_ids = marker["max_ids"]
    with psycopg.connect(environment.database_url) as conn, conn.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        for table in (
            "channels_app_liveevent",
            "channels_app_agentsocket",
            "inbox_inboundevent",
            "django_session",
        ):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - our table names
        cursor.execute(
            "DELETE FROM conversations_conversation_labels WHERE conversation_id > %s",
            [max_ids["conversations_conversation"]],
        )
        for table in reversed(RESET_TABLES):
            cursor.execute(f"DELETE FROM {table} WHERE id > %s", [max_ids[table]])  # noqa: S608
        # Conversations that took new messages point back at their own latest one.
        cursor.execute(
            """
            UPDATE conversations_conversation c
            SET last_message_id = latest.id, last_message_at = latest.created_at
            FROM conversations_conversation c2
            CROSS JOIN LATERAL (
                SELECT id, created_at FROM conversations_message m
                WHERE m.conversation_id = c2.id ORDER BY id DESC LIMIT 1) latest
            WHERE c.id = c2.id AND (c2.last_message_id IS NULL OR c2.last_message_id > %s)
            """,
            [max_ids["conversations_message"]],
        )
        cursor.execute("SET session_replication_role = origin")
        conn.commit()
