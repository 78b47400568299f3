"""Placeholders of the SMS texts: registry, finding, rendering, and what is refused."""

from __future__ import annotations

import pytest

from webapp.sms import placeholders
from webapp.sms.placeholders import (
    PLACEHOLDERS,
    USAGES,
    MissingPlaceholderError,
    PlaceholderSyntaxError,
    find_placeholders,
    render,
    render_example,
    unknown_placeholders,
    unsuitable_placeholders,
)

EXPECTED_KEYS = {
    "auftrag.nummer",
    "auftrag.titel",
    "auftrag.termin",
    "auftrag.kreditor",
    "ticket.nummer",
    "ticket.titel",
    "person.name",
    "firma.name",
    "objekt.adresse",
    "mandant.name",
}


# --- registry ------------------------------------------------------------------------------------


def test_registry_holds_the_agreed_placeholders_with_description_and_example():
    assert set(PLACEHOLDERS) == EXPECTED_KEYS
    for key, entry in PLACEHOLDERS.items():
        assert entry.key == key
        assert entry.token == "{" + key + "}"
        assert str(entry.description).strip()
        assert entry.example.strip()
        # An example value must not itself look like a placeholder or a brace.
        assert "{" not in entry.example and "}" not in entry.example


def test_usages_are_the_known_keys_and_free():
    assert set(USAGES) == {
        "",
        "auftrag_kreditor",
        "auftrag_kontrolleur",
        "auftrag_bn",
        "ticket_bn_erstellt",
    }
    for key, entry in USAGES.items():
        assert entry.key == key
        assert str(entry.label).strip()
        assert entry.placeholder_keys, key
        assert set(entry.placeholder_keys) <= EXPECTED_KEYS
    assert set(USAGES[""].placeholder_keys) == EXPECTED_KEYS


@pytest.mark.parametrize(
    ("usage_key", "fits", "does_not_fit"),
    [
        ("auftrag_kreditor", "auftrag.nummer", "ticket.nummer"),
        ("auftrag_kontrolleur", "person.name", "ticket.titel"),
        ("auftrag_bn", "objekt.adresse", "ticket.nummer"),
        ("ticket_bn_erstellt", "ticket.nummer", "auftrag.nummer"),
    ],
)
def test_usages_offer_the_placeholders_that_can_be_filled(usage_key, fits, does_not_fit):
    keys = USAGES[usage_key].placeholder_keys
    assert fits in keys
    assert does_not_fit not in keys
    assert "mandant.name" in keys


def test_usage_label_of_an_unknown_key_is_the_key():
    assert placeholders.usage_label("gibt_es_nicht") == "gibt_es_nicht"
    assert placeholders.usage("gibt_es_nicht") is None
    assert placeholders.usage_label("auftrag_bn") == str(USAGES["auftrag_bn"].label)


# --- finding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("", []),
        ("Kein Platzhalter.", []),
        ("Auftrag {auftrag.nummer}", ["auftrag.nummer"]),
        ("{person.name}{person.name} und {firma.name}", ["person.name", "firma.name"]),
        ("Termin: {auftrag.termin}, {auftrag.nummer}", ["auftrag.termin", "auftrag.nummer"]),
        ("{{auftrag.nummer}} ist Text", []),
        ("{{{auftrag.nummer}}}", ["auftrag.nummer"]),
        ("{x.y} und {Auftrag.Nummer}", ["x.y", "Auftrag.Nummer"]),
        ("Mengen {{1,2}} und {ticket.titel}", ["ticket.titel"]),
        ("Umlaute äöü ß € 😀 {mandant.name}", ["mandant.name"]),
    ],
)
def test_find_placeholders(body, found):
    assert find_placeholders(body) == found


@pytest.mark.parametrize(
    ("body", "unknown"),
    [
        ("{auftrag.nummer} {person.name}", []),
        ("{auftrag.numer}", ["auftrag.numer"]),
        ("{Auftrag.Nummer}", ["Auftrag.Nummer"]),  # the registry is lower case
        ("{kunde.name} {person.name} {kunde.name}", ["kunde.name"]),
        ("{{kunde.name}}", []),  # escaped: text, not a placeholder
    ],
)
def test_unknown_placeholders(body, unknown):
    assert unknown_placeholders(body) == unknown


def test_unsuitable_placeholders_depend_on_the_usage():
    body = "{ticket.nummer} {auftrag.nummer} {gibt.esnicht}"
    assert unsuitable_placeholders(body, "auftrag_kreditor") == ["ticket.nummer"]
    assert unsuitable_placeholders(body, "ticket_bn_erstellt") == ["auftrag.nummer"]
    assert unsuitable_placeholders(body, "") == []
    assert unsuitable_placeholders(body, "unbekannt") == []


# --- bad syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "position", "phrase"),
    [
        ("{", 1, "wird nicht geschlossen"),
        ("}", 1, "gehört zu keinem Platzhalter"),
        ("Hallo {person.name", 7, "wird nicht geschlossen"),
        ("Hallo person.name}", 18, "gehört zu keinem Platzhalter"),
        ("{auftrag.nummer}}", 17, "gehört zu keinem Platzhalter"),
        ("{auftrag.{nummer}}", 1, "nicht verschachtelt"),
        ("{{auftrag.nummer}", 17, "gehört zu keinem Platzhalter"),
        ("a { {person.name}", 3, "nicht verschachtelt"),
        ("{}", 1, "kein gültiger Platzhalter"),
        ("{auftrag}", 1, "kein gültiger Platzhalter"),
        ("{ auftrag.nummer }", 1, "kein gültiger Platzhalter"),
        ("{auftrag.nummer.x}", 1, "kein gültiger Platzhalter"),
        ("{auftrag-nummer}", 1, "kein gültiger Platzhalter"),
        ("{1.2}", 1, "kein gültiger Platzhalter"),
        ("ok {person.name} dann {", 23, "wird nicht geschlossen"),
    ],
)
def test_stray_or_malformed_braces_are_refused_with_position(body, position, phrase):
    for call in (
        find_placeholders,
        unknown_placeholders,
        render_example,
        placeholders.check_syntax,
    ):
        with pytest.raises(PlaceholderSyntaxError) as caught:
            call(body)
        assert caught.value.position == position
        assert phrase in caught.value.message
        assert f"Stelle {position}" in caught.value.message
        # The message says how to write it right.
        assert "{bereich.feld}" in caught.value.message
        assert "{{" in caught.value.message


def test_a_syntax_error_is_an_input_error():
    from webapp.errors import InputError

    with pytest.raises(InputError):
        render("{", {})


# --- rendering -----------------------------------------------------------------------------------

VALUES = {"auftrag.nummer": "A-1", "person.name": "Eva Ek", "firma.name": ""}


@pytest.mark.parametrize(
    ("body", "missing", "expected"),
    [
        ("", "keep", ""),
        ("Ohne", "keep", "Ohne"),
        ("Auftrag {auftrag.nummer}", "keep", "Auftrag A-1"),
        ("{person.name}/{person.name}", "keep", "Eva Ek/Eva Ek"),
        ("Firma: [{firma.name}]", "keep", "Firma: []"),  # an empty value is a value
        ("Termin {auftrag.termin}", "keep", "Termin {auftrag.termin}"),
        ("Termin {auftrag.termin}", "example", "Termin 25.11.2026 08:00"),
        ("{gibt.esnicht}", "example", "{gibt.esnicht}"),
        ("{{auftrag.nummer}} = {auftrag.nummer}", "keep", "{auftrag.nummer} = A-1"),
        ("Mengen {{1}} und }}", "keep", "Mengen {1} und }"),
        ("{{{person.name}}}", "keep", "{Eva Ek}"),
        ("Zeile 1\nZeile 2 {person.name}", "keep", "Zeile 1\nZeile 2 Eva Ek"),
        ("😀 {person.name} €", "keep", "😀 Eva Ek €"),
    ],
)
def test_render(body, missing, expected):
    assert render(body, VALUES, missing=missing) == expected


def test_values_are_not_parsed_again():
    # A value with braces or a placeholder-like text is inserted as it is.
    assert render("{person.name}", {"person.name": "{firma.name} }{"}) == "{firma.name} }{"


def test_none_counts_as_missing():
    assert render("{person.name}", {"person.name": None}, missing="example") == "Maria Muster"


def test_missing_error_names_every_missing_placeholder():
    with pytest.raises(MissingPlaceholderError) as caught:
        render(
            "{auftrag.titel} {person.name} {ticket.nummer} {auftrag.titel}", VALUES, missing="error"
        )
    assert caught.value.keys == ["auftrag.titel", "ticket.nummer"]
    assert "{auftrag.titel}, {ticket.nummer}" in caught.value.message
    assert caught.value.field == "body"


def test_missing_error_passes_when_all_are_filled():
    assert render("{auftrag.nummer}", VALUES, missing="error") == "A-1"


def test_unknown_missing_mode_is_a_programming_error():
    with pytest.raises(ValueError, match="missing must be"):
        render("x", {}, missing="drop")  # type: ignore[arg-type]


def test_render_example_fills_every_registry_placeholder():
    body = " ".join(p.token for p in PLACEHOLDERS.values())
    rendered = render_example(body)
    assert "{" not in rendered
    for entry in PLACEHOLDERS.values():
        assert entry.example in rendered


# --- texts that are sent as they are (issue 12 point 8) ------------------------------------------


def test_unfilled_placeholders_are_found_in_a_final_text():
    text = "Auftrag {auftrag.nummer}: {auftrag.titel}, {auftrag.nummer} {kunde.name}"
    assert placeholders.unfilled_placeholders(text) == [
        "auftrag.nummer",
        "auftrag.titel",
        "kunde.name",
    ]
    # Braces that are no placeholder are text: a final text may hold them.
    assert placeholders.unfilled_placeholders("Preis {5} € {x} { a.b } }{") == []
    assert placeholders.unfilled_placeholders("") == []


def test_mark_unfilled_splits_the_text_around_them():
    assert placeholders.mark_unfilled("Hallo {person.name}, bis {auftrag.termin}") == [
        ("Hallo ", False),
        ("{person.name}", True),
        (", bis ", False),
        ("{auftrag.termin}", True),
    ]
    assert placeholders.mark_unfilled("ohne") == [("ohne", False)]


def test_check_filled_names_every_placeholder_in_german():
    placeholders.check_filled("ganz normal {5}")
    with pytest.raises(placeholders.UnfilledPlaceholderError) as raised:
        placeholders.check_filled("Auftrag {auftrag.nummer} am {auftrag.termin}")
    assert raised.value.field == "text"
    assert raised.value.keys == ["auftrag.nummer", "auftrag.termin"]
    assert raised.value.message == (
        "Die Platzhalter {auftrag.nummer}, {auftrag.termin} werden hier nicht ausgefüllt: "
        "bitte durch den gewünschten Text ersetzen."
    )
    with pytest.raises(placeholders.UnfilledPlaceholderError, match="Der Platzhalter"):
        placeholders.check_filled("{person.name}")
