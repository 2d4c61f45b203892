"""One search box over the conversations, contacts and messages a user may see.

Messages, on PostgreSQL: full-text search over a stored generated column,
`search_document = to_tsvector('switchboard_search', body)`, with a GIN index on it
(migrations 0003 and 0006): ranking and phrase checks read the stored document instead of
parsing the body of every match again. `switchboard_search` is the built-in `simple`
configuration with the `unaccent` dictionary in front of it: every word is folded to
lower case without accents and kept whole: no stemming, no stop words.

- Customers write English, Spanish and Italian, often to the same inbox, and a message
  does not say which language it is in. A language's stemmer would stem a Spanish text
  with English rules, or the query with other rules than the text, so matches would hang
  on a guess. One language-neutral configuration serves all three with one index and
  no stemming mismatches.
- Accents fold both ways: "cafe" finds "café" and "perché" finds "perche".
- Stemming is traded for predictability: you find the words you typed ("order" does not
  find "orders").
- Folding inside the configuration rather than indexing `unaccent(body)`: `unaccent()` is
  only STABLE and would need an IMMUTABLE wrapper to be indexed, and highlighting would
  then have to run on the accent-stripped text, showing customers' words without their
  accents. With the configuration, `ts_headline` marks "café" in the original text when
  the query was "cafe".

Queries go through `websearch_to_tsquery`, so "quoted phrases", -exclusions and `or`
work as people expect; results are ranked with `ts_rank` and highlighted with
`ts_headline`. Only the newest RANKED_MATCHES matches are ranked: a common word matches a
good part of the history, and ranking every match made a search cost more the longer the
history (bench/README.md). For a support inbox the best of the recent matches is what is
wanted; an older message is found with a rarer word or a phrase.

Finding the newest matches: the GIN index yields every match, and PostgreSQL reads each
from the table to order them by id; a common phrase is tens of thousands of reads (its
estimate is far too low: the planner takes a phrase's words as independent). So the
newest RECENT_WINDOW messages are searched first, by the index and a range of ids
together, and the older ones only when those gave fewer than RANKED_MATCHES: one query
(`UNION ALL` under a `LIMIT`, which stops before the older part once the recent part has
enough). The result is the same whatever the window; only the work differs.

Who may see a message is asked of the message's own inbox (`Message.objects.visible_to`),
not by joining each match to its conversation.

Customer text is untrusted: the headline marks matches with control characters that
cannot come from the text (they are blanked first), the result is HTML-escaped, and only
then do the markers become our <mark> tags.

Contacts match on name, e-mail or phone (`icontains`, through trigram indexes on
PostgreSQL: contacts migration 0004); a query like "#123" or "123" also
finds conversation 123. Everything goes through `Conversation.objects.visible_to(user)`.

On SQLite (embedded mode) messages match with an escaped, case-insensitive `icontains`,
newest first.

Paging: "More results" asks for the next page by number (an offset). Ranked results have
no key to continue after (the rank is a float computed per query), and people rarely look
past the first pages of a search. Conversations and contacts appear on the first page.
"""

import re
from dataclasses import dataclass, field

from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVectorField,
)
from django.db import connection
from django.db.models import Expression, F, Func, OuterRef, Q, Subquery, TextField, Value
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from contacts.models import Contact
from conversations.access import visible_conversations
from conversations.fragments import INBOX_NAME_ONLY
from conversations.models import Message, MessageKind

SEARCH_CONFIG = "switchboard_search"
MESSAGE_INDEX = "message_search_document_idx"
SEARCHABLE_KINDS = (MessageKind.TEXT, MessageKind.NOTE)
MESSAGE_PAGE_SIZE = 20
RANKED_MATCHES = 1000  # the newest matches that are ranked; older ones are not shown
RECENT_WINDOW = 50_000  # the newest messages searched first for them
CONTACT_LIMIT = 10
MAX_QUERY_LENGTH = 200

# Highlight markers handed to ts_headline, replaced by <mark> after escaping.
START, STOP = "\x02", "\x03"

CONVERSATION_NUMBER = re.compile(r"#?(\d{1,18})")
PHONE_PUNCTUATION = re.compile(r"[\s().-]")


class MessageDocument(Expression):
    """The message's stored search document (a column only PostgreSQL has, migration 0006),
    in a query over messages, under whatever alias that query gives the table.

    Not a model field: on SQLite there is no such column, and Django never writes it.
    """

    output_field = SearchVectorField()
    table_alias = None

    def resolve_expression(self, query=None, *args, **kwargs):
        resolved = self.copy()
        resolved.table_alias = query.get_initial_alias()
        return resolved

    def as_sql(self, compiler, connection):
        return f"{compiler.quote_name_unless_alias(self.table_alias)}.search_document", []


class BlankMarkers(Func):
    """The text with our highlight markers turned into spaces, so only ours remain."""

    function = "translate"
    output_field = TextField()

    def __init__(self, expression):
        super().__init__(expression, Value(START + STOP), Value("  "))


@dataclass
class SearchResults:
    query: str
    page: int = 1
    conversations: list = field(default_factory=list)
    contacts: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    next_page: int | None = None

    @property
    def is_empty(self):
        return not (self.conversations or self.contacts or self.messages)


def search_for(user, query, page=None):
    """What `user` may see that matches `query`: a fixed number of queries."""
    query = " ".join((query or "").split())[:MAX_QUERY_LENGTH]
    results = SearchResults(query, parse_page(page))
    if not query:
        return results
    if results.page == 1:
        results.conversations = matching_conversations(user, query)
        results.contacts = matching_contacts(user, query)
    offset = (results.page - 1) * MESSAGE_PAGE_SIZE
    rows = list(matching_messages(user, query)[offset : offset + MESSAGE_PAGE_SIZE + 1])
    if len(rows) > MESSAGE_PAGE_SIZE:
        rows = rows[:MESSAGE_PAGE_SIZE]
        results.next_page = results.page + 1
    for message in rows:
        message.snippet = snippet(message, query)
    results.messages = rows
    return results


def parse_page(value):
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def matching_conversations(user, query):
    """The conversation whose number is the query ("#123" or "123"), if the user sees it."""
    number = CONVERSATION_NUMBER.fullmatch(query)
    if number is None:
        return []
    return list(
        visible_conversations(user)
        .select_related("contact", "inbox")
        .defer(*INBOX_NAME_ONLY)
        .filter(pk=number[1])
    )


def matching_contacts(user, query):
    """Contacts with a conversation the user may see, by name, e-mail or phone."""
    visible = visible_conversations(user)
    condition = Q(name__icontains=query) | Q(email__icontains=query) | Q(phone__contains=query)
    compact = PHONE_PUNCTUATION.sub("", query)
    if compact and compact != query:
        # Phones are stored as E.164: "+34 600 111-222" should find "+34600111222".
        condition |= Q(phone__contains=compact)
    latest_conversation = (
        visible.filter(contact=OuterRef("pk")).order_by("-last_message_at", "-pk").values("pk")
    )
    return list(
        Contact.objects.filter(
            condition, anonymised_at__isnull=True, pk__in=visible.values("contact")
        )
        .annotate(latest_conversation_id=Subquery(latest_conversation[:1]))
        .order_by("name", "pk")[:CONTACT_LIMIT]
    )


def searchable_messages(user):
    return Message.objects.visible_to(user).filter(kind__in=SEARCHABLE_KINDS, is_deleted=False)


def with_display_relations(messages):
    return messages.select_related("conversation__contact", "inbox", "author").defer(
        *INBOX_NAME_ONLY
    )


def matching_messages(user, query):
    """Messages that match, best first (PostgreSQL) or newest first (SQLite), unsliced."""
    if connection.vendor != "postgresql":
        return with_display_relations(
            searchable_messages(user)
            .filter(body__icontains=plain_term(query))
            .order_by("-created_at", "-pk")
        )
    words = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
    return (
        with_display_relations(Message.objects.filter(pk__in=newest_matches(user, words)))
        .alias(document=MessageDocument())
        .annotate(
            rank=SearchRank(F("document"), words, normalization=Value(1)),
            headline=SearchHeadline(
                BlankMarkers("body"),
                words,
                config=SEARCH_CONFIG,
                start_sel=START,
                stop_sel=STOP,
                max_fragments=2,
                max_words=18,
                min_words=6,
                fragment_delimiter=" … ",
            ),
        )
        .order_by("-rank", "-created_at", "-pk")
    )


def messages_matching(user, words):
    """Every message `user` may see that matches the SearchQuery `words`, by the index."""
    return searchable_messages(user).alias(document=MessageDocument()).filter(document=words)


def newest_matches(user, words):
    """The ids of the newest RANKED_MATCHES messages `user` may see that match `words`,
    newest first: the recent window's, then, only if they are too few, older ones."""
    matches = messages_matching(user, words).order_by("-pk").values("pk")
    # A number, not a subquery: the planner must know the range to read it by the index.
    newest = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    window_start = newest - RECENT_WINDOW
    recent = matches.filter(pk__gt=window_start)[:RANKED_MATCHES]
    older = matches.filter(pk__lte=window_start)[:RANKED_MATCHES]
    return recent.union(older, all=True)[:RANKED_MATCHES]


def plain_term(query):
    """The text to look for without full-text search: the query without its outer quotes."""
    return query.strip('"').strip() or query


def snippet(message, query):
    """The message text around the match with the matched words in <mark>, safe to show."""
    headline = getattr(message, "headline", None)
    if headline is not None:
        return mark_safe(  # noqa: S308 - escaped first; the markers are ours.
            escape(headline).replace(START, "<mark>").replace(STOP, "</mark>")
        )
    return marked_excerpt(message.body, plain_term(query))


def marked_excerpt(text, term, before=60, after=140):
    """An escaped excerpt of `text` around `term`, each occurrence wrapped in <mark>."""
    pattern = re.compile(re.escape(term), re.IGNORECASE)
    first = pattern.search(text)
    start = max(0, first.start() - before) if first else 0
    end = min(len(text), (first.end() if first else 0) + after)
    window = text[start:end]
    parts = ["…" if start else ""]
    shown = 0
    for match in pattern.finditer(window):
        parts.append(format_html("{}<mark>{}</mark>", window[shown : match.start()], match[0]))
        shown = match.end()
    parts.append(escape(window[shown:]))
    parts.append("…" if end < len(text) else "")
    return mark_safe("".join(parts))  # noqa: S308 - every piece is escaped above.
