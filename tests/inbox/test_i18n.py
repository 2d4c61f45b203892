"""Languages: each user works in their own, switches it from the user menu, and Switchboard
ships complete, compiled Spanish and Italian catalogues (CI needs no gettext tools)."""

import ast
import gettext
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.translation.template import templatize

from inbox.models import Role
from inbox.services import set_preferences

pytestmark = pytest.mark.usefixtures("fast_password_hashing")

PASSWORD = "correct horse battery"
ROOT = Path(settings.BASE_DIR)
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]

# Text the workspace shows with a conversation open: the status tabs, the composer, the
# thread actions and the user menu, in each language.
WORKSPACE_TEXT = {
    "es": [
        "Abierta",
        "Pendiente",
        "Pospuesta",
        "Resuelta",
        "Responder",
        "Nota privada",
        "Enviar",
        "Resolver",
        "Cerrar sesión",
        "Idioma",
    ],
    "it": [
        "Aperta",
        "In attesa",
        "Posticipata",
        "Risolta",
        "Rispondi",
        "Nota privata",
        "Invia",
        "Risolvi",
        "Esci",
        "Lingua",
    ],
}
ENGLISH_TEXT = ["Resolved", "Private note", "Sign out"]


@pytest.fixture
def conversation(widget_inbox, customer_writes):
    return customer_writes(widget_inbox, "Is the Guji in stock?", name="Emma Clarke").conversation


def sign_in(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302


def page_text(response):
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("language", ["es", "it"])
def test_an_agent_finds_the_inbox_in_their_own_language(
    client, make_user, widget_inbox, conversation, language
):
    agent = make_user(Role.AGENT, inboxes=[widget_inbox], language=language)
    sign_in(client, agent)

    response = client.get(reverse("conversations:detail", args=[conversation.pk]))

    text = page_text(response)
    assert f'<html lang="{language}">' in text
    assert response["Content-Language"] == language
    for phrase in WORKSPACE_TEXT[language]:
        assert phrase in text, phrase
    for phrase in ENGLISH_TEXT:
        assert phrase not in text, phrase


def test_texts_the_scripts_show_come_translated_from_the_page(client, make_user, widget_inbox):
    agent = make_user(Role.AGENT, inboxes=[widget_inbox], language="es")
    client.force_login(agent)

    text = page_text(client.get(reverse("conversations:inbox")))

    assert 'data-label-online="En directo"' in text
    assert 'data-label-connecting="Conectando…"' in text
    assert 'data-label-reconnecting="Reconectando… los mensajes nuevos' in text
    # The script puts the "sign in again" link in place of the placeholder.
    assert (
        'data-label-signed-out="Se ha cerrado tu sesión. %(link)s para seguir recibiendo mensajes."'
        in text
    )
    assert 'data-label-sign-in="Vuelve a iniciar sesión"' in text
    assert 'data-msg-missing="Esa conversación no está disponible para ti."' in text
    assert 'data-msg-forbidden="No tienes permiso para hacer eso."' in text
    assert 'data-msg-offline="Parece que no tienes conexión.' in text
    # The script puts the status code in place of the placeholder.
    assert (
        'data-msg-failed="Algo ha fallado (%(status)s). Inténtalo de nuevo en un momento."' in text
    )


def test_the_widget_shows_its_connection_state_in_the_visitors_language(client, widget_inbox):
    response = client.get(
        reverse("widget_page", args=[widget_inbox.public_token]), headers={"accept-language": "it"}
    )

    text = page_text(response)
    assert '<html lang="it">' in text
    assert 'data-label-online="In diretta"' in text
    assert 'data-label-reconnecting="Riconnessione in corso…' in text


def test_the_language_menu_offers_each_language_in_its_own_name(client, make_user, widget_inbox):
    agent = make_user(Role.AGENT, inboxes=[widget_inbox], language="it")
    client.force_login(agent)

    text = page_text(client.get(reverse("conversations:inbox")))

    options = re.findall(r'<option value="(\w+)" lang="\w+"( selected)?>([^<]+)</option>', text)
    assert options == [
        ("en", "", "English"),
        ("es", "", "Español"),
        ("it", " selected", "Italiano"),
    ]
    assert f'action="{reverse("language")}"' in text


def test_an_english_agent_gets_english(client, agent, conversation):
    sign_in(client, agent)

    text = page_text(client.get(reverse("conversations:detail", args=[conversation.pk])))

    assert '<html lang="en">' in text
    for phrase in ENGLISH_TEXT:
        assert phrase in text


def test_switching_the_language_saves_it_and_the_next_page_speaks_it(client, agent, conversation):
    sign_in(client, agent)
    page = f"http://testserver{reverse('conversations:detail', args=[conversation.pk])}"

    response = client.post(reverse("language"), {"language": "es"}, headers={"referer": page})

    assert response.status_code == 302
    assert response.url == page
    agent.refresh_from_db()
    assert agent.language == "es"
    text = page_text(client.get(response.url))
    assert '<html lang="es">' in text
    assert "Nota privada" in text


def test_switching_with_htmx_loads_the_page_again_in_the_new_language(client, agent):
    client.force_login(agent)
    page = f"http://testserver{reverse('conversations:inbox')}?view=all"

    response = client.post(
        reverse("language"),
        {"language": "it"},
        headers={"referer": page, "HX-Request": "true"},
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == page
    agent.refresh_from_db()
    assert agent.language == "it"


@pytest.mark.parametrize("referer", ["", "https://elsewhere.example/phishing", "//evil.example/"])
def test_after_switching_a_foreign_or_missing_referer_leads_to_the_inbox(client, agent, referer):
    client.force_login(agent)

    response = client.post(reverse("language"), {"language": "it"}, headers={"referer": referer})

    assert response.status_code == 302
    assert response.url == reverse("conversations:inbox")


@pytest.mark.parametrize("code", ["fr", "", "es-xx", "<script>"])
def test_an_unknown_language_is_refused_with_400_and_nothing_saved(client, agent, code):
    client.force_login(agent)

    response = client.post(reverse("language"), {"language": code})

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == (
        "Switchboard does not speak that language. Choose one of: English, Español, Italiano."
    )
    agent.refresh_from_db()
    assert agent.language == "en"


def test_the_refusal_is_in_the_agents_own_language(client, make_user, widget_inbox):
    agent = make_user(Role.AGENT, inboxes=[widget_inbox], language="es")
    client.force_login(agent)

    response = client.post(reverse("language"), {"language": "fr"})

    assert response.status_code == 400
    assert "Switchboard no está disponible en ese idioma" in response.content.decode()


def test_the_language_changes_only_by_post(client, agent):
    client.force_login(agent)

    assert client.get(reverse("language"), {"language": "es"}).status_code == 405
    agent.refresh_from_db()
    assert agent.language == "en"


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.post(reverse("language"), {"language": "es"})

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_set_preferences_writes_only_the_language(agent):
    with CaptureQueriesContext(connection) as queries:
        set_preferences(agent, language="it")

    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert '"language"' in updates[0]
    assert '"display_name"' not in updates[0]
    agent.refresh_from_db()
    assert agent.language == "it"


# --- The catalogues ----------------------------------------------------------------------------


@dataclass
class Entry:
    forms: list
    plural: str | None
    fuzzy: bool


def read_po(path):
    """A .po file as {(context, msgid): Entry}, leaving out the header and obsolete entries."""
    entries = {}
    fields, field, flags = {}, None, ""

    def finish():
        if fields.get("msgid"):
            entries[(fields.get("msgctxt"), fields["msgid"])] = Entry(
                forms=[value for key, value in sorted(fields.items()) if key.startswith("msgstr")],
                plural=fields.get("msgid_plural"),
                fuzzy="fuzzy" in flags,
            )

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("#~"):
            continue
        if not line.strip():
            finish()
            fields, field, flags = {}, None, ""
        elif line.startswith("#,"):
            flags += line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            fields[field] += ast.literal_eval(line)
        else:
            keyword, _, value = line.partition(" ")
            if keyword in ("msgctxt", "msgid") and any(k.startswith("msgstr") for k in fields):
                finish()
                fields, flags = {}, ""
            field = keyword
            fields[field] = ast.literal_eval(value)
    return entries


def catalogue(language):
    return ROOT / "locale" / language / "LC_MESSAGES" / "django.po"


PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\{\s*\w+\s*\}\}")


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(language):
    entries = read_po(catalogue(language))

    assert len(entries) > 100
    assert [msgid for (_c, msgid), entry in entries.items() if not all(entry.forms)] == []
    assert [msgid for (_c, msgid), entry in entries.items() if entry.fuzzy] == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder(language):
    for (_context, msgid), entry in read_po(catalogue(language)).items():
        for form in entry.forms:
            assert sorted(PLACEHOLDER.findall(form)) == sorted(PLACEHOLDER.findall(msgid)), msgid


@pytest.mark.parametrize(
    ("language", "msgid", "expected"),
    [("es", "Resolve", "Resolver"), ("it", "Resolve", "Risolvi")],
)
def test_the_compiled_catalogue_matches_its_source(language, msgid, expected):
    """The .mo files are committed: each must hold exactly what its .po says."""
    entries = read_po(catalogue(language))
    with catalogue(language).with_suffix(".mo").open("rb") as compiled:
        mo = gettext.GNUTranslations(compiled)

    assert mo.gettext(msgid) == expected
    stale = []
    for (context, source), entry in entries.items():
        if entry.plural is not None:
            # Every form, by a count that selects it.
            counts = {mo.plural(n): n for n in (1, 2, 5, 1_000_000)}
            found = [
                mo.npgettext(context, source, entry.plural, counts[i])
                if context
                else mo.ngettext(source, entry.plural, counts[i])
                for i in range(len(entry.forms))
            ]
        else:
            found = [mo.pgettext(context, source) if context else mo.gettext(source)]
        if found != entry.forms:
            stale.append(source)
    assert stale == [], "Run `make messages`: the .mo files are older than the .po files."


# What `makemessages` extracts: calls in Python and the translate tags of templates.
GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "gettext_noop", "pgettext", "pgettext_lazy"}
PLURAL_NAMES = {"ngettext", "ngettext_lazy", "npgettext", "npgettext_lazy"}
SKIPPED_DIRS = {"node_modules", "staticfiles", "locale", "tests"}
TEMPLATE_CALL = re.compile(
    r"\b(gettext|pgettext|ngettext|npgettext|_)\("
    r"((?:\s*u?(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\s*,?)+)"
)
STRING = re.compile(r"u?('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def source_files():
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in SKIPPED_DIRS]
        for name in files:
            if name.endswith((".py", ".html", ".txt")):
                yield Path(folder) / name


def call_name(node):
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)


def msgids_in_python(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or call_name(node) not in GETTEXT_NAMES | PLURAL_NAMES:
            continue
        strings = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if not strings or not all(isinstance(s, str) for s in strings):
            continue
        contextual = call_name(node).startswith(("pgettext", "npgettext"))
        yield (strings[0], strings[1]) if contextual else (None, strings[0])


def msgids_in_template(path):
    for match in TEMPLATE_CALL.finditer(templatize(path.read_text(encoding="utf-8"))):
        strings = [ast.literal_eval(s) for s in STRING.findall(match.group(2))]
        contextual = match.group(1) in {"pgettext", "npgettext"}
        yield (strings[0], strings[1]) if contextual else (None, strings[0])


def test_every_translatable_text_of_our_code_is_in_the_catalogues():
    wanted = {}
    for path in source_files():
        found = msgids_in_python(path) if path.suffix == ".py" else msgids_in_template(path)
        for key in found:
            wanted.setdefault(key, path.relative_to(ROOT))
    assert len(wanted) > 100

    for language in TRANSLATED:
        entries = read_po(catalogue(language))
        missing = {key[1]: str(where) for key, where in wanted.items() if key not in entries}
        assert missing == {}, (
            f"Not in the {language} catalogue: run `make messages` and translate the new entries."
        )
