"""Search: messages by full text, contacts, conversation numbers; only what the user may see."""

import os
import re
from datetime import timedelta

import pytest
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from contacts.models import Contact, ContactIdentity
from conversations import services
from conversations.models import AuthorType, Conversation, Direction, Message, Status
from conversations.search import (
    MESSAGE_INDEX,
    MESSAGE_PAGE_SIZE,
    SEARCH_CONFIG,
    marked_excerpt,
    messages_matching,
)
from inbox.models import Role

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

# Full-text search is PostgreSQL's; embedded mode (SQLite) falls back to `icontains`.
# In CI the suite always runs on PostgreSQL, so there these tests never skip.
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql" and not os.environ.get("CI"),
    reason="full-text search needs PostgreSQL",
)

HTMX_THREAD = {"HX-Request": "true", "HX-Target": "thread-pane"}
HTMX_MORE = {"HX-Request": "true", "HX-Target": "search-more"}

# Queries of one search, whatever the number of rows: session, user, conversation by
# number, contacts, the newest message's id, messages (the count is pinned with 200
# matching messages below).
SEARCH_QUERIES = 6


def search(client, query, headers=None, **params):
    response = client.get(reverse("conversations:search"), {"q": query, **params}, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def hit_ids(content):
    """The ids of the message results, in the order shown."""
    return [int(pk) for pk in re.findall(r'id="search-message-(\d+)"', content)]


def bulk_messages(inbox, count, body, *, conversations=20):
    """`count` customer messages spread over a few conversations, in a handful of queries."""
    contacts = Contact.objects.bulk_create(
        [Contact(name=f"Bulk customer {n}") for n in range(conversations)]
    )
    identities = ContactIdentity.objects.bulk_create(
        [
            ContactIdentity(contact=contact, inbox=inbox, external_id=f"visitor:bulk-{contact.pk}")
            for contact in contacts
        ]
    )
    threads = Conversation.objects.bulk_create(
        [
            Conversation(
                inbox=inbox,
                channel=inbox.kind,
                contact=identity.contact,
                contact_identity=identity,
                status=Status.RESOLVED,
            )
            for identity in identities
        ]
    )
    start = timezone.now() - timedelta(days=1)
    return Message.objects.bulk_create(
        [
            Message(
                conversation=threads[n % conversations],
                inbox=inbox,
                direction=Direction.INBOUND,
                author_type=AuthorType.CONTACT,
                body=f"{body} {n}",
                created_at=start + timedelta(seconds=n),
            )
            for n in range(count)
        ]
    )


# --- Finding messages -------------------------------------------------------------------------


def test_a_rare_word_finds_its_message(agent_client, widget_inbox, customer_writes):
    customer_writes(widget_inbox, "Hello, is anyone there?")
    wanted = customer_writes(widget_inbox, "My order of Guji beans never arrived")

    assert hit_ids(search(agent_client, "guji")) == [wanted.pk]


def test_notes_are_found_and_deleted_messages_are_not(
    agent, agent_client, widget_inbox, customer_writes
):
    removed = customer_writes(widget_inbox, "Please forget my quokka question")
    Message.objects.filter(pk=removed.pk).update(is_deleted=True)
    note = services.add_note(agent, removed.conversation, "The quokka order is with the courier")

    assert hit_ids(search(agent_client, "quokka")) == [note.pk]


def test_a_message_result_names_the_contact_and_inbox_and_links_into_the_thread(
    agent_client, widget_inbox, customer_writes
):
    message = customer_writes(widget_inbox, "Where is my parcel?", name="Emma Clarke")

    content = search(agent_client, "parcel")

    link = f'href="/conversations/{message.conversation_id}/#message-{message.pk}"'
    assert link in content
    assert "Emma Clarke" in content
    assert widget_inbox.name in content
    assert "<time datetime=" in content


@postgres_only
@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("cafe", "Il café era freddo"),
        ("perché", "perche non risponde nessuno"),
        ("CAFÉ", "un cafe con leche por favor"),
    ],
)
def test_accents_and_case_fold_both_ways(agent_client, widget_inbox, customer_writes, query, body):
    wanted = customer_writes(widget_inbox, body)
    customer_writes(widget_inbox, "Nothing to see here")

    assert hit_ids(search(agent_client, query)) == [wanted.pk]


@postgres_only
@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("pedido", "¿Dónde está mi pedido? Llegó roto."),
        ("llego", "¿Dónde está mi pedido? Llegó roto."),
        ("pacco", "Perché il pacco non è ancora arrivato?"),
        ("ancora", "Perché il pacco non è ancora arrivato?"),
        ("refund", "I would like a refund for the broken mug."),
    ],
)
def test_spanish_italian_and_english_texts_are_found(
    agent_client, widget_inbox, customer_writes, query, body
):
    wanted = customer_writes(widget_inbox, body)
    customer_writes(widget_inbox, "Hola, buongiorno, hello")

    assert hit_ids(search(agent_client, query)) == [wanted.pk]


@postgres_only
def test_words_match_whole_without_stemming(agent_client, widget_inbox, customer_writes):
    customer_writes(widget_inbox, "Both orders arrived")
    exact = customer_writes(widget_inbox, "The order arrived")

    assert hit_ids(search(agent_client, "order")) == [exact.pk]


@postgres_only
def test_a_quoted_phrase_matches_those_words_in_that_order(
    agent_client, widget_inbox, customer_writes
):
    phrase = customer_writes(widget_inbox, "My order was not delivered yesterday")
    customer_writes(widget_inbox, "Not the order that was delivered")

    assert hit_ids(search(agent_client, '"order was not delivered"')) == [phrase.pk]
    assert len(hit_ids(search(agent_client, "order delivered"))) == 2


@postgres_only
def test_a_minus_leaves_a_word_out(agent_client, widget_inbox, customer_writes):
    customer_writes(widget_inbox, "Refund through paypal please")
    card = customer_writes(widget_inbox, "Refund to my card please")

    assert hit_ids(search(agent_client, "refund -paypal")) == [card.pk]


@postgres_only
def test_the_better_match_comes_first(agent_client, widget_inbox, customer_writes):
    passing = customer_writes(
        widget_inbox,
        "Hello, I wrote last week about the delivery to my office and the invoice address "
        "that was wrong, and also the colour of the mug, and by the way a refund maybe.",
    )
    focused = customer_writes(widget_inbox, "Refund please: refund the refund.")

    assert hit_ids(search(agent_client, "refund")) == [focused.pk, passing.pk]


@postgres_only
def test_only_the_newest_matches_are_ranked(
    agent_client, widget_inbox, customer_writes, monkeypatch
):
    # A common word matches much of the history: the best of the newest matches are shown,
    # however many older ones there are.
    monkeypatch.setattr("conversations.search.RANKED_MATCHES", 2)
    oldest = customer_writes(widget_inbox, "Refund please: refund the refund.")
    newer = customer_writes(widget_inbox, "About the refund, and my office address too.")
    newest = customer_writes(widget_inbox, "Refund, refund: still waiting.")

    assert hit_ids(search(agent_client, "refund")) == [newest.pk, newer.pk]
    assert oldest.pk not in hit_ids(search(agent_client, "refund"))


@postgres_only
@pytest.mark.parametrize("window", [0, 1, 2, 3, 10_000])
def test_the_newest_matches_are_found_whatever_the_recent_window(
    agent_client, widget_inbox, customer_writes, monkeypatch, window
):
    # The newest messages are searched first, the older ones only when those matched too
    # few: where the window ends changes the work, never the result.
    monkeypatch.setattr("conversations.search.RANKED_MATCHES", 2)
    monkeypatch.setattr("conversations.search.RECENT_WINDOW", window)
    customer_writes(widget_inbox, "Refund please: refund the refund.")
    newer = customer_writes(widget_inbox, "About the refund, and my office address too.")
    newest = customer_writes(widget_inbox, "Refund, refund: still waiting.")
    customer_writes(widget_inbox, "Nothing about money in this one.")

    assert hit_ids(search(agent_client, "refund")) == [newest.pk, newer.pk]


def test_matched_words_are_marked(agent_client, widget_inbox, customer_writes):
    customer_writes(widget_inbox, "Is the Guji still in stock?")

    content = search(agent_client, "guji")

    assert "<mark>Guji</mark>" in content


def test_customer_markup_in_a_match_comes_out_escaped(agent_client, widget_inbox, customer_writes):
    customer_writes(
        widget_inbox,
        "<script>alert(1)</script> pineapple <img src=x onerror=alert(1)> a < b & c "
        "\x02not ours\x03 <mark>fake</mark>",
    )

    content = search(agent_client, "pineapple", headers=HTMX_THREAD)

    snippet = content.split('class="search-snippet">', 1)[1].split("</span>\n", 1)[0]
    assert "<script" not in content
    assert "<img" not in content
    assert "&lt;img src=x onerror=alert(1)&gt;" in snippet
    assert "a &lt; b &amp; c" in snippet
    assert snippet.count("<mark>") == snippet.count("</mark>") == 1
    assert "<mark>pineapple</mark>" in snippet


# --- Who sees what ----------------------------------------------------------------------------

SECRET = "confidential other-brand plans"


@pytest.fixture
def planted(other_inbox, customer_writes):
    """A message in an inbox the agent is not a member of, with text to look out for."""
    return customer_writes(
        other_inbox, f"Zanzibar7731 {SECRET}", name="Olga Other", visitor="visitor:planted"
    )


@pytest.mark.parametrize("query", ["zanzibar7731", "Olga", "planted"])
def test_agent_never_finds_messages_of_an_inbox_they_are_not_in(agent_client, planted, query):
    query = f"#{planted.conversation_id}" if query == "planted" else query

    content = search(agent_client, query)

    assert SECRET not in content
    assert "Olga Other" not in content
    assert f"/conversations/{planted.conversation_id}/" not in content
    assert f"No results for “{query}”." in content


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisors_and_admins_find_messages_of_every_inbox(client, make_user, planted, role):
    client.force_login(make_user(role))

    content = search(client, "zanzibar7731")

    assert hit_ids(content) == [planted.pk]
    assert "confidential other-brand plans" in content
    assert "Olga Other" in content


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    url = reverse("conversations:search")

    response = client.get(url, {"q": "anything"})

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


# --- Contacts and conversation numbers --------------------------------------------------------


@pytest.fixture
def emma(widget_inbox, customer_writes):
    message = customer_writes(widget_inbox, "Hi", name="Emma Clarke", visitor="visitor:emma")
    Contact.objects.filter(pk=message.conversation.contact_id).update(
        email="emma.clarke@example.test", phone="+34600111222"
    )
    return message.conversation


@pytest.mark.parametrize(
    "query", ["emma", "CLARKE", "emma.clarke@example", "+34 600 111", "600111"]
)
def test_contacts_are_found_by_name_email_or_phone(agent_client, emma, planted, query):
    content = search(agent_client, query)

    assert 'id="search-contacts-heading"' in content
    assert "Emma Clarke" in content
    assert f'href="/conversations/{emma.pk}/"' in content


def test_contacts_seen_only_in_other_inboxes_are_not_found(agent_client, emma, planted):
    content = search(agent_client, "olga")

    assert 'id="search-contacts-heading"' not in content
    assert "Olga Other" not in content


@pytest.mark.parametrize("prefix", ["#", ""])
def test_a_conversation_is_found_by_its_number(agent_client, emma, prefix):
    content = search(agent_client, f"{prefix}{emma.pk}")

    assert 'id="search-conversations-heading"' in content
    assert f"#{emma.pk}" in content
    assert f'href="/conversations/{emma.pk}/"' in content


# --- The page -------------------------------------------------------------------------------


def test_the_full_page_has_the_search_box_and_the_results(agent_client, widget_inbox):
    content = search(agent_client, "guji")

    assert "<html" in content
    assert 'role="search"' in content
    assert 'aria-label="Search"' in content
    assert 'value="guji"' in content


def test_the_workspace_top_bar_has_the_search_box(agent_client):
    response = agent_client.get(reverse("conversations:inbox"))

    content = response.content.decode()
    assert 'role="search"' in content
    assert 'aria-label="Search"' in content
    assert 'hx-target="#thread-pane"' in content.split('role="search"', 1)[1].split(">", 1)[0]


def test_htmx_into_the_thread_pane_renders_only_the_results(
    agent_client, widget_inbox, customer_writes
):
    customer_writes(widget_inbox, "Is the Guji still in stock?")

    content = search(agent_client, "guji", headers=HTMX_THREAD)

    assert "<html" not in content
    assert content.lstrip().startswith('<section class="search-results"')
    assert "<mark>Guji</mark>" in content


def test_an_empty_query_explains_what_can_be_searched(agent_client, db):
    content = search(agent_client, "   ")

    assert "Search the messages, contacts and conversations you can see." in content
    assert "No results" not in content


def test_no_results_says_so_with_the_query_escaped(agent_client, widget_inbox, customer_writes):
    customer_writes(widget_inbox, "Hello")

    content = search(agent_client, "<b>nowhere</b>")

    assert "No results for “&lt;b&gt;nowhere&lt;/b&gt;”." in content
    assert "<b>nowhere" not in content


def test_more_results_appends_the_next_page_without_overlap(agent_client, widget_inbox):
    bulk_messages(widget_inbox, MESSAGE_PAGE_SIZE + 5, "pineapple")

    first = search(agent_client, "pineapple")
    more = re.search(r'hx-get="([^"]+)"', first.split('id="search-more"', 1)[1])[1]
    second = agent_client.get(more.replace("&amp;", "&"), headers=HTMX_MORE).content.decode()

    assert len(hit_ids(first)) == MESSAGE_PAGE_SIZE
    assert "<section" not in second
    assert len(hit_ids(second)) == 5
    assert 'id="search-more"' not in second
    assert set(hit_ids(first)).isdisjoint(hit_ids(second))


@pytest.mark.parametrize("count", [5, 200])
def test_search_runs_a_fixed_number_of_queries(
    agent_client, widget_inbox, count, django_assert_max_num_queries
):
    number = f"#{bulk_messages(widget_inbox, count, 'Bulk pineapple order')[0].conversation_id}"

    with django_assert_max_num_queries(SEARCH_QUERIES):
        content = search(agent_client, "bulk")
    with django_assert_max_num_queries(SEARCH_QUERIES):
        by_number = search(agent_client, number)

    assert len(hit_ids(content)) == min(count, MESSAGE_PAGE_SIZE)
    assert 'id="search-contacts-heading"' in content
    assert 'id="search-conversations-heading"' in by_number


# --- The index --------------------------------------------------------------------------------


@postgres_only
def test_message_search_uses_the_gin_index(make_user, widget_inbox):
    bulk_messages(widget_inbox, 300, "Bulk order")
    # Someone who sees every inbox: no inbox filter whose own index a small table would
    # tempt the planner into reading instead.
    supervisor = make_user(Role.SUPERVISOR)
    with connection.cursor() as cursor:
        # Small tables tempt the planner into a sequential scan, or a walk of another index
        # filtering every row; the plan shape is the point.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")

    words = SearchQuery("pineapple", config=SEARCH_CONFIG, search_type="websearch")
    plan = messages_matching(supervisor, words).explain()

    assert MESSAGE_INDEX in plan
    assert "Bitmap Index Scan" in plan


@postgres_only
@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ("name__icontains", "contact_name_trgm_idx"),
        ("email__icontains", "contact_email_trgm_idx"),
        ("phone__contains", "contact_phone_trgm_idx"),
    ],
)
def test_contact_matching_uses_a_trigram_index(db, lookup, index):
    Contact.objects.bulk_create([Contact(name=f"Customer {n}") for n in range(50)])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")

    plan = Contact.objects.filter(**{lookup: "garc"}).explain()

    assert index in plan


# --- Snippets without full-text search (embedded mode) ----------------------------------------


def test_excerpts_escape_the_text_and_mark_every_occurrence():
    text = "<b>Guji</b> & more guji " + "x" * 300

    excerpt = marked_excerpt(text, "GUJI")

    assert excerpt.startswith("&lt;b&gt;<mark>Guji</mark>&lt;/b&gt; &amp; more <mark>guji</mark>")
    assert excerpt.endswith("…")
    assert "<b>" not in excerpt


def test_excerpts_start_near_a_late_match():
    excerpt = marked_excerpt("y" * 500 + " pineapple", "pineapple")

    assert excerpt.startswith("…")
    assert excerpt.endswith("<mark>pineapple</mark>")
    assert len(excerpt) < 100
