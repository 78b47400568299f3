"""parse_number and format_display: the one phone-number parser, without a database."""

from __future__ import annotations

import dataclasses

import pytest

from webapp.sms.numbers import NumberProblem, ParsedNumber, format_display, parse_number

EXAMPLE = "Bitte z. B. 0664 1234567 oder +43 664 1234567 eingeben."


@pytest.mark.parametrize(
    ("raw", "e164", "display"),
    [
        ("0664 123 45 67", "+436641234567", "+43 664 1234567"),
        ("06641234567", "+436641234567", "+43 664 1234567"),
        ("+43 664 1234567", "+436641234567", "+43 664 1234567"),
        ("+436641234567", "+436641234567", "+43 664 1234567"),
        ("0043 664 1234567", "+436641234567", "+43 664 1234567"),
        ("00436641234567", "+436641234567", "+43 664 1234567"),
        ("+43 (0) 664/123 45-67", "+436641234567", "+43 664 1234567"),
        ("0043 (0)664/123 45 67", "+436641234567", "+43 664 1234567"),
        ("0664.123.45.67", "+436641234567", "+43 664 1234567"),
        ("(0664) 1234567", "+436641234567", "+43 664 1234567"),
        ("  0664 1234567 \n", "+436641234567", "+43 664 1234567"),
        ("664 1234567", "+436641234567", "+43 664 1234567"),  # trunk zero forgotten
        ("0699 12345678", "+4369912345678", "+43 699 12345678"),
        ("0650 1234567", "+436501234567", "+43 650 1234567"),
        ("0676 1234567", "+436761234567", "+43 676 1234567"),
        ("0663 123456", "+43663123456", "+43 663 123456"),  # mobile, but not seeded in 93001
        ("+49 151 12345678", "+4915112345678", "+49 1511 2345678"),
        ("0049 151 12345678", "+4915112345678", "+49 1511 2345678"),
        ("+49 (0)171 1234567", "+491711234567", "+49 171 1234567"),
        ("+49 176 12345678", "+4917612345678", "+49 176 12345678"),
        ("+41 79 123 45 67", "+41791234567", "+41 79 123 45 67"),
        # FIXED_LINE_OR_MOBILE (North America) counts as mobile here; table 93001 decides.
        ("+1 202 555 0123", "+12025550123", "+1 202-555-0123"),
    ],
)
def test_valid_mobile_numbers_are_normalised(raw, e164, display):
    parsed = parse_number(raw)
    assert parsed == ParsedNumber(raw=raw, e164=e164, display=display, problem=None, reason=None)
    assert parsed.ok


@pytest.mark.parametrize(
    "raw",
    [
        "０６６４ １２３ ４５ ６７",  # full-width digits and spaces (East-Asian input method)
        "＋４３ ６６４ １２３４５６７",  # full-width plus
        "（０６６４）－１２３４５６７",  # full-width parentheses and hyphen
        "٠٦٦٤١٢٣٤٥٦٧",  # Arabic-Indic digits
        "0664\u00a0123\u00a045\u00a067",  # no-break spaces (copied from a web page)
        "0664\u202f1234567",  # narrow no-break space
        "0664 – 1234567",  # en dash (word-processor autocorrect)
        "0664\u20111234567",  # non-breaking hyphen
        "\ufeff0664\u200b1234567\u200e",  # BOM, zero-width space, LRM: invisible, ignored
        "0664\t1234567",
    ],
)
def test_unicode_digits_and_separators_count_as_their_ascii_forms(raw):
    parsed = parse_number(raw)
    assert parsed.ok, parsed.reason
    assert parsed.e164 == "+436641234567"
    assert parsed.display == "+43 664 1234567"
    assert parsed.raw == raw  # as entered


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Bitte eine Handynummer eingeben"),
        ("   ", "Bitte eine Handynummer eingeben"),
        ("\n\t", "Bitte eine Handynummer eingeben"),
        ("abc", "enthält das ungültige Zeichen „a“"),
        ("0664 CALLME", "enthält das ungültige Zeichen „C“"),  # no keypad letters
        ("o664 1234567", "enthält das ungültige Zeichen „o“"),  # letter o for zero
        ("0664 1234567 ext 12", "enthält das ungültige Zeichen „e“"),
        ("tel:+436641234567", "enthält das ungültige Zeichen „t“"),
        ("0664#1234567", "enthält das ungültige Zeichen „#“"),
        ("*0664 1234567", "enthält das ungültige Zeichen „*“"),
        ("0664 1234567📱", "enthält das ungültige Zeichen „📱“"),
        ("☎ 0664 1234567", "enthält das ungültige Zeichen „☎“"),
        ("0664²1234567", "enthält das ungültige Zeichen „²“"),  # superscript is no digit
        ("0664,1234567", "enthält das ungültige Zeichen „,“"),
        ("0664_1234567", "enthält das ungültige Zeichen „_“"),
        ("0664\x001234567", "enthält das ungültige Zeichen"),
        ("++43 664 1234567", "ein + an der falschen Stelle"),
        ("0664+1234567", "ein + an der falschen Stelle"),
        ("+43 664 +1234567", "ein + an der falschen Stelle"),
        ("+", "enthält keine Ziffern"),
        ("---", "enthält keine Ziffern"),
        ("( ) / .", "enthält keine Ziffern"),
        ("0", "keine gültige Telefonnummer"),
        ("0664", "keine gültige Telefonnummer"),
        ("+43 664 12", "keine gültige Telefonnummer"),  # is_possible, but not valid
        ("066412345678901", "zu lang"),  # possible length exceeded
        ("+43", "keine gültige Telefonnummer"),
        ("0043", "zu kurz"),
        ("00", "zu kurz"),
        ("+43 664", "zu kurz"),
        ("12345678901234567890", "zu lang"),
        ("+43 664 1234567890123456", "zu lang"),
        ("0" * 19, "zu lang"),
        ("1" * 65, "höchstens 64 Zeichen"),
        ("+999 1234567", "keiner gültigen Ländervorwahl"),
    ],
)
def test_malformed_input_says_what_is_wrong_and_what_to_enter(raw, message):
    parsed = parse_number(raw)
    assert parsed.problem is NumberProblem.MALFORMED
    assert not parsed.ok
    assert parsed.e164 is None
    assert parsed.display is None
    assert parsed.raw == raw
    assert message in parsed.reason
    assert "0664 1234567" in parsed.reason  # every reason shows an example


@pytest.mark.parametrize(
    ("raw", "kind", "e164"),
    [
        ("01 5880 0", "eine Festnetznummer", "+43158800"),  # Vienna
        ("0316 123456", "eine Festnetznummer", "+43316123456"),  # Graz
        ("+43 316 123456", "eine Festnetznummer", "+43316123456"),
        ("0049 30 1234567", "eine Festnetznummer", "+49301234567"),  # Berlin
        ("+49 30 1234567", "eine Festnetznummer", "+49301234567"),
        ("0049 89 1234567", "eine Festnetznummer", "+49891234567"),  # Munich
        ("0800 123456", "eine gebührenfreie Servicenummer", "+43800123456"),
        ("0900 123456", "eine Mehrwertnummer", "+43900123456"),
        ("0810 123456", "eine Servicenummer", "+43810123456"),
        ("0720 123456", "eine VoIP-Nummer", "+43720123456"),
    ],
)
def test_valid_numbers_that_are_not_mobile(raw, kind, e164):
    parsed = parse_number(raw)
    assert parsed.problem is NumberProblem.NOT_MOBILE
    assert not parsed.ok
    assert parsed.e164 == e164  # still normalised, so it can be shown
    assert parsed.reason.startswith(f"Die Nummer {raw} ist {kind}; SMS gehen nur an Handynummern.")


@pytest.mark.parametrize(("raw", "e164"), [("12345", "+4312345"), ("123456", "+43123456")])
def test_a_short_number_without_area_code_is_called_too_short_not_a_landline(raw, e164):
    # For phonenumbers "12345" is Vienna 01 2345; whoever types it wrote no area code at all.
    parsed = parse_number(raw)
    assert parsed.problem is NumberProblem.NOT_MOBILE and parsed.e164 == e164
    assert parsed.reason.startswith(f"„{raw}“ ist zu kurz für eine Handynummer.")
    assert "Festnetz" not in parsed.reason and "0664 1234567" in parsed.reason


def test_a_short_number_with_an_area_code_is_still_a_landline():
    assert "ist eine Festnetznummer" in parse_number("+43 1 2345").reason
    assert "ist eine Festnetznummer" in parse_number("01 5880 0").reason


def test_landline_reason_reads_as_in_the_spec():
    assert parse_number("01 5880 0").reason == (
        "Die Nummer 01 5880 0 ist eine Festnetznummer; SMS gehen nur an Handynummern."
    )


def test_german_mobile_in_national_format_is_vienna_for_austria_with_a_hint():
    # 0151 … in Austria is Vienna (01) + subscriber number: a valid landline, not a mobile.
    parsed = parse_number("0151 12345678")
    assert parsed.problem is NumberProblem.NOT_MOBILE
    assert parsed.e164 == "+4315112345678"
    assert "Festnetznummer" in parsed.reason
    assert "Falls die Handynummer +49 1511 2345678 gemeint ist, bitte mit +49 eingeben." in (
        parsed.reason
    )


def test_default_region_decides_how_national_input_is_read():
    assert parse_number("0151 12345678", default_region="DE").e164 == "+4915112345678"
    assert parse_number("0151 12345678", default_region="DE").ok
    # … and the other way round: 0664 … in Germany is the landline area code 06641.
    parsed = parse_number("0664 1234567", default_region="DE")
    assert parsed.problem is NumberProblem.NOT_MOBILE
    assert parsed.e164 == "+496641234567"
    assert "Falls die Handynummer +43 664 1234567 gemeint ist, bitte mit +43 eingeben." in (
        parsed.reason
    )


def test_no_neighbour_hint_for_international_input_or_plain_landlines():
    assert "Falls" not in parse_number("+43 1 5112345678").reason
    assert "Falls" not in parse_number("0316 123456").reason


def test_long_input_is_shortened_in_the_reason():
    raw = "0664 " + "x" * 40
    reason = parse_number(raw).reason
    assert "…" in reason
    assert "x" * 40 not in reason


def test_parsed_number_is_frozen():
    parsed = parse_number("0664 1234567")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.e164 = "+43"  # type: ignore[misc]


def test_number_problem_values_are_strings():
    assert NumberProblem.MALFORMED == "malformed"
    assert NumberProblem.NOT_MOBILE == "not_mobile"
    assert NumberProblem.PREFIX_NOT_ALLOWED == "prefix_not_allowed"


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+436641234567", "+43 664 1234567"),
        ("+4369912345678", "+43 699 12345678"),
        ("+4915112345678", "+49 1511 2345678"),
        ("+43158800", "+43 1 58800"),
        ("", ""),
        ("kaputt", "kaputt"),  # stored data that does not parse is shown unchanged
    ],
)
def test_format_display(e164, shown):
    assert format_display(e164) == shown


def test_every_malformed_reason_ends_with_the_example():
    for raw in ("abc", "0664", "0043", "+999 1", "+", "++4", "1" * 70, "9" * 20):
        assert parse_number(raw).reason.endswith(EXAMPLE), raw
