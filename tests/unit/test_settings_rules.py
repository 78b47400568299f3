"""Validation rules of globals and prefixes, without a database."""

from __future__ import annotations

import pytest

from webapp.errors import InputError
from webapp.models import GlobalVariableType
from webapp.sms.prefixes import clean_prefix, format_prefix
from webapp.sms.settings import clean_global_value


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("43664", "43664"),
        ("+43 664", "43664"),
        ("0043 664", "43664"),
        ("+49 (151)", "49151"),
        (" 4367 6 ", "43676"),
        ("1907", "1907"),
    ],
)
def test_prefix_notations_are_normalised_to_digits(raw, digits):
    assert clean_prefix(raw) == digits


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Bitte eine Vorwahl eingeben"),
        ("43a664", "nur Ziffern"),
        ("0664", "ohne führende 0"),
        ("43", "fehlt die Handyvorwahl"),
        ("999123", "keiner gültigen Ländervorwahl"),
        ("4366412345678901", "höchstens 12 Ziffern"),
    ],
)
def test_bad_prefixes_are_refused_with_a_german_reason(raw, message):
    with pytest.raises(InputError) as refused:
        clean_prefix(raw)
    assert message in refused.value.message
    assert refused.value.field == "prefix"


def test_prefixes_are_shown_with_country_code_apart():
    assert format_prefix("43664") == "+43 664"
    assert format_prefix("49151") == "+49 151"
    assert format_prefix("1907") == "+1 907"


@pytest.mark.parametrize("raw", ["0", "1", " 1 "])
def test_flags_take_0_or_1(raw):
    assert clean_global_value(GlobalVariableType.FLAG, raw) == raw.strip()


@pytest.mark.parametrize("raw", ["2", "ja", "", "true"])
def test_flags_refuse_anything_else(raw):
    with pytest.raises(InputError, match="0 \\(aus\\) oder 1 \\(ein\\)"):
        clean_global_value(GlobalVariableType.FLAG, raw)


def test_email_globals_are_validated_and_may_be_empty():
    assert (
        clean_global_value(GlobalVariableType.EMAIL, " fehler@hv-wien.at ") == "fehler@hv-wien.at"
    )
    assert clean_global_value(GlobalVariableType.EMAIL, "") == ""
    with pytest.raises(InputError, match="gültige E-Mail-Adresse"):
        clean_global_value(GlobalVariableType.EMAIL, "fehler@")


def test_text_globals_keep_their_text_and_are_limited():
    assert clean_global_value(GlobalVariableType.TEXT, "Ihre HV Wien\r\nTel. 01 234") == (
        "Ihre HV Wien\nTel. 01 234"
    )
    with pytest.raises(InputError, match="höchstens 500 Zeichen"):
        clean_global_value(GlobalVariableType.TEXT, "x" * 501)
