"""An agent works in their own language and switches it from the user menu."""

import re

from playwright.sync_api import expect

from inbox.models import User


def test_a_supervisor_works_in_spanish_and_switches_to_italian(
    demo, live_app, page, sign_in, screenshot, console_problems
):
    console_problems(page)
    # Luis, the demo supervisor, works in Spanish.
    sign_in(page, "supervisor@example.com")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("status").filter(has_text="En directo")).to_be_visible()
    page.get_by_role("link", name=re.compile(r"^Todas")).click()
    page.get_by_role("link", name=re.compile("Giulia Ferri")).click()
    expect(page.get_by_role("radio", name="Nota privada")).to_be_visible()
    statuses = page.get_by_role("navigation", name="Estado")
    for tab in ("Abierta", "Pendiente", "Pospuesta", "Resuelta"):
        expect(statuses.get_by_role("link", name=tab)).to_be_visible()
    expect(page.get_by_role("button", name="Enviar")).to_be_visible()
    expect(page.get_by_role("button", name="Resolver")).to_be_visible()
    conversation_url = page.url
    screenshot(page, "inbox-spanish")

    page.get_by_label("Menú de la cuenta").click()
    page.get_by_role("combobox", name="Idioma").select_option(label="Italiano")

    expect(page.locator("html")).to_have_attribute("lang", "it")
    assert page.url == conversation_url
    expect(page.get_by_role("status").filter(has_text="In diretta")).to_be_visible()
    statuses = page.get_by_role("navigation", name="Stato")
    for tab in ("Aperta", "In attesa", "Posticipata", "Risolta"):
        expect(statuses.get_by_role("link", name=tab)).to_be_visible()
    expect(page.get_by_role("radio", name="Rispondi")).to_be_checked()
    expect(page.get_by_role("button", name="Invia")).to_be_visible()
    expect(page.get_by_role("button", name="Risolvi")).to_be_visible()
    expect(page.get_by_role("textbox", name="Rispondi")).to_have_attribute(
        "placeholder", re.compile(r"^Rispondi a Giulia Ferri…")
    )
    page.get_by_label("Menu dell'account").click()
    expect(page.get_by_role("combobox", name="Lingua")).to_have_value("it")
    assert User.objects.get(email="supervisor@example.com").language == "it"
    screenshot(page, "inbox-italian")
    assert console_problems.problems == []
