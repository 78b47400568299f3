"""check_number: parse_number plus the active prefixes of table 93001 SMS_HANDYVORWAHLEN."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from webapp.errors import InputError
from webapp.models import MobilePrefix
from webapp.sms.numbers import NumberProblem, check_number, parse_number, require_number
from webapp.sms.prefixes import add_prefix, update_prefix


def _entry(db, digits: str) -> MobilePrefix:
    return db.scalar(select(MobilePrefix).where(MobilePrefix.prefix == digits))


def _deactivate(db, digits: str) -> None:
    entry = _entry(db, digits)
    update_prefix(db, entry, entry.prefix, entry.description, active=False)


@pytest.mark.parametrize(
    "raw",
    [
        "0664 123 45 67",
        "+43 660 1234567",
        "0043 699 12345678",
        "+43 (0) 676/123 45-67",
        "+49 151 12345678",
        "0049 170 1234567",
        "+49 179 1234567",
    ],
)
def test_seeded_austrian_and_german_mobiles_are_sendable(db, raw):
    parsed = check_number(db, raw)
    assert parsed.ok, parsed.reason
    assert parsed == parse_number(raw)


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        ("0663 123456", "+43 663"),  # a valid Austrian mobile range that is not seeded
        ("+41 79 123 45 67", "+41 79"),  # Swiss mobile
        ("+39 333 1234567", "+39 333"),  # Italian mobile
        ("+1 202 555 0123", "+1 202"),  # FIXED_LINE_OR_MOBILE passes parsing, not the table
    ],
)
def test_valid_mobile_without_an_active_prefix_is_not_allowed(db, raw, prefix):
    parsed = check_number(db, raw)
    assert parsed.problem is NumberProblem.PREFIX_NOT_ALLOWED
    assert not parsed.ok
    assert parsed.e164 == parse_number(raw).e164  # still normalised, for the error record
    assert parsed.reason.startswith(
        f"Die Vorwahl {prefix} ist nicht in der Konfigurationstabelle 93001 SMS_HANDYVORWAHLEN "
        "eingetragen."
    )


def test_deactivating_a_prefix_blocks_its_numbers(db):
    assert check_number(db, "0660 1234567").ok
    _deactivate(db, "43660")
    parsed = check_number(db, "0660 1234567")
    assert parsed.problem is NumberProblem.PREFIX_NOT_ALLOWED
    assert "Die Vorwahl +43 660 ist nicht in der Konfigurationstabelle 93001" in parsed.reason
    assert check_number(db, "0664 1234567").ok  # the others are untouched


def test_reactivating_a_prefix_allows_its_numbers_again(db):
    _deactivate(db, "43660")
    entry = _entry(db, "43660")
    update_prefix(db, entry, entry.prefix, entry.description, active=True)
    assert check_number(db, "+43 660 1234567").ok


def test_adding_a_prefix_allows_its_numbers(db):
    assert check_number(db, "0663 123456").problem is NumberProblem.PREFIX_NOT_ALLOWED
    add_prefix(db, "+43 663", "Österreich Mobil 0663")
    assert check_number(db, "0663 123456").ok


def test_a_longer_prefix_allows_only_its_own_range(db):
    _deactivate(db, "49151")
    add_prefix(db, "4915112", "nur 01511 2…")
    assert check_number(db, "+49 1511 2345678").ok
    assert check_number(db, "+49 1511 3345678").problem is NumberProblem.PREFIX_NOT_ALLOWED


def test_german_number_blocked_when_german_prefixes_are_inactive(db):
    for entry in db.scalars(select(MobilePrefix).where(MobilePrefix.prefix.startswith("49"))):
        update_prefix(db, entry, entry.prefix, entry.description, active=False)
    assert check_number(db, "+49 151 12345678").problem is NumberProblem.PREFIX_NOT_ALLOWED
    assert check_number(db, "0664 1234567").ok


def test_a_prefix_does_not_allow_landlines_or_malformed_input(db):
    add_prefix(db, "431", "Wien (falsch eingetragen)")
    # A landline stays NOT_MOBILE even when its area code is in the table: parsing decides first.
    assert check_number(db, "01 5880 0").problem is NumberProblem.NOT_MOBILE
    assert check_number(db, "0664").problem is NumberProblem.MALFORMED
    assert check_number(db, "").problem is NumberProblem.MALFORMED


def test_empty_table_blocks_every_mobile(db):
    for entry in db.scalars(select(MobilePrefix)):
        update_prefix(db, entry, entry.prefix, entry.description, active=False)
    assert check_number(db, "0664 1234567").problem is NumberProblem.PREFIX_NOT_ALLOWED


def _count_queries(db):
    statements: list[str] = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", before)
    return statements, lambda: event.remove(engine, "before_cursor_execute", before)


def test_one_query_per_check_and_none_for_bad_input(db):
    db.commit()
    statements, stop = _count_queries(db)
    try:
        check_number(db, "0664 1234567")
        assert len([s for s in statements if "mobile_prefix" in s]) == 1
        statements.clear()
        check_number(db, "0316 123456")
        check_number(db, "abc")
        assert statements == []
    finally:
        stop()


def test_require_number_returns_the_number_or_raises_input_error(db):
    assert require_number(db, "0664 1234567").e164 == "+436641234567"
    with pytest.raises(InputError) as raised:
        require_number(db, "0663 123456", field="phone")
    assert raised.value.field == "phone"
    assert "93001 SMS_HANDYVORWAHLEN" in raised.value.message
    with pytest.raises(InputError) as raised:
        require_number(db, "01 5880 0")
    assert raised.value.field == "number"
    assert "Festnetznummer" in raised.value.message
