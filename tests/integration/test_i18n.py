"""German UI by default, English after /sprache/en, a complete and compiled English catalog.

German is the source language: the msgids are the German texts. When a test here fails because
a text is missing or the .mo is stale, run `make translations`, translate the new entries in
webapp/translations/en/LC_MESSAGES/messages.po and run `make translations` again.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import session
from flask_babel import get_babel, gettext

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = PROJECT_ROOT / "webapp" / "translations"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
EN_MO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo"
# The same keywords as `pybabel extract -k _l` in the Makefile.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}
FIX_HINT = (
    "Run `make translations`, translate the new entries in "
    "webapp/translations/en/LC_MESSAGES/messages.po (no empty or fuzzy entries) "
    "and run `make translations` again."
)


def _extracted_template() -> Catalog:
    """What `pybabel extract -F babel.cfg -k _l` would write to messages.pot, in memory."""
    with (PROJECT_ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    template = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PROJECT_ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _read_en_po() -> Catalog:
    with EN_PO.open("rb") as po:
        return read_po(po, locale="en")


def _mo_messages(data: bytes) -> dict[tuple[object, str | None], object]:
    """msgid (and context) → translation of a compiled catalog, header left out."""
    catalog = read_mo(io.BytesIO(data))

    def hashable(value: object) -> object:  # plural entries come as lists
        return tuple(value) if isinstance(value, list) else value

    return {(hashable(m.id), m.context): hashable(m.string) for m in catalog if m.id}


# --- language switch ---------------------------------------------------------------------------


def test_login_page_is_german_by_default(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert '<html lang="de"' in response.text
    assert "Anmelden" in response.text
    assert "Log in" not in response.text


def test_login_page_is_english_after_switching(client):
    response = client.post("/sprache/en")
    assert response.status_code == 302
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="en"' in page.text
    assert "Log in" in page.text
    assert "Username" in page.text
    assert "Anmelden" not in page.text


def test_navigation_of_admin_is_english_after_switching(admin_client):
    admin_client.post("/sprache/en")
    page = admin_client.get("/")
    assert page.status_code == 200
    assert "Global variables" in page.text
    assert "Configuration tables" in page.text
    assert "Users" in page.text
    assert "Log out" in page.text
    assert "Globale Variablen" not in page.text


def test_unknown_language_keeps_german(client):
    client.post("/sprache/fr")
    assert "Anmelden" in client.get("/login").text


def test_compiled_catalog_is_found_under_app_root(app):
    directories = [Path(d).resolve() for d in get_babel(app).translation_directories]
    assert directories == [Path(app.root_path).resolve() / "translations"]
    assert (directories[0] / "en" / "LC_MESSAGES" / "messages.mo") == EN_MO.resolve()
    assert EN_MO.is_file(), f"{EN_MO} is missing. {FIX_HINT}"
    with app.test_request_context():
        session["lang"] = "en"
        assert gettext("Abmelden") == "Log out"


# --- catalog -----------------------------------------------------------------------------------


def test_english_catalog_translates_every_text():
    template = _extracted_template()
    assert len(template) > 50, "extraction found (almost) nothing: check babel.cfg"
    translations = _read_en_po()
    missing: list[str] = []
    for message in template:
        if not message.id:
            continue
        entry = translations.get(message.id, message.context)
        strings = entry.string if entry is not None else None
        complete = all(strings) if isinstance(strings, (list, tuple)) else bool(strings)
        if entry is None or entry.fuzzy or not complete:
            msgid = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
            where = ", ".join(f"{f}:{n}" for f, n in message.locations)
            state = "missing" if entry is None else ("fuzzy" if entry.fuzzy else "empty")
            missing.append(f"  {msgid!r} ({state}; {where})")
    assert not missing, (
        f"{len(missing)} German text(s) without an English translation:\n"
        + "\n".join(missing)
        + f"\n{FIX_HINT}"
    )


def test_compiled_catalog_matches_po():
    assert EN_MO.is_file(), f"{EN_MO} is missing. {FIX_HINT}"
    compiled = io.BytesIO()
    write_mo(compiled, _read_en_po(), use_fuzzy=False)
    expected = _mo_messages(compiled.getvalue())
    actual = _mo_messages(EN_MO.read_bytes())
    if expected != actual:
        differing = sorted(
            str(key[0])
            for key in expected.keys() | actual.keys()
            if expected.get(key) != actual.get(key)
        )
        raise AssertionError(
            "webapp/translations/en/LC_MESSAGES/messages.mo is older than messages.po: "
            "run make translations (pybabel compile). Differing msgids:\n  "
            + "\n  ".join(differing[:30])
        )
