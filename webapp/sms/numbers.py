"""The one parser for every phone number entered anywhere (SPEC R5).

`parse_number` is pure: it checks what a number *is* (malformed, landline, valid mobile) and
normalises it to E.164. `check_number` adds the only rule that needs the database: a sendable
number starts with an active prefix of Konfigurationstabelle 93001 SMS_HANDYVORWAHLEN.

What counts as input:
- Digits, one optional leading "+", and the separators space, "/", "-", "(", ")", ".".
  "0664 123 45 67", "+43 (0) 664/123 45-67", "0043 664 1234567" and "+49 151 12345678" are all
  fine; national format ("0664…") is read in `default_region`.
- Any Unicode decimal digit counts as that digit: full-width digits from an East-Asian input
  method ("０６６４…") or Arabic-Indic digits become 0-9. `raw` keeps what was entered; `e164`
  and `display` are always ASCII. Full-width separators and "+" (e.g. "＋", "（", "－") and
  other Unicode dashes and spaces count as their ASCII forms.
- Invisible format characters (zero-width space, direction marks, BOM) that copy-and-paste
  brings along are ignored.
- Everything else is refused: letters (phonenumbers would read "0664 CALL ME" as keypad
  digits), "#", "*", a second or non-leading "+", "tel:" URIs, extensions, emoji, superscripts.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from flask_babel import gettext as _
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import ValidationResult as Possible
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.sms.prefixes import TABLE_NAME, TABLE_NUMBER, active_prefixes

MAX_INPUT_LENGTH = 64  # characters as entered; longer input is refused before parsing
MAX_DIGITS = 18  # "00" + trunk "(0)" + the 15 digits E.164 allows at most
SEPARATORS = frozenset(" /-().")
MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
# A number in national format that is not a mobile in the default region may be one in a
# neighbouring country ("0151 …" is Vienna for AT but a German mobile); the reason says so.
HINT_REGIONS = ("AT", "DE")
_ECHO_LENGTH = 30
_PLAIN_INPUT = re.compile(r"\+?[0-9 /().-]*")
_NOT_DIGIT_OR_PLUS = re.compile(r"[^0-9+]")


class NumberProblem(enum.StrEnum):
    MALFORMED = "malformed"  # not a valid phone number at all
    NOT_MOBILE = "not_mobile"  # a valid number, but landline, toll-free, premium rate, …
    PREFIX_NOT_ALLOWED = "prefix_not_allowed"  # a valid mobile, but not in table 93001


@dataclass(frozen=True)
class ParsedNumber:
    """The result of parsing what someone entered; `problem` and `reason` are None when ok.

    `e164` and `display` are set whenever the input is a valid number (also for NOT_MOBILE and
    PREFIX_NOT_ALLOWED, so the number can be shown); they are None only for MALFORMED.
    """

    raw: str
    e164: str | None
    display: str | None
    problem: NumberProblem | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Malformed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _example() -> str:
    return _("Bitte z. B. 0664 1234567 oder +43 664 1234567 eingeben.")


def _echo(raw: str) -> str:
    """The input for a message: whitespace collapsed, long input shortened."""
    text = " ".join(raw.split())
    return text if len(text) <= _ECHO_LENGTH else text[: _ECHO_LENGTH - 1] + "…"


def _malformed(raw: str, message: str) -> ParsedNumber:
    """MALFORMED with `message` (what is wrong) followed by an example of what to enter."""
    reason = f"{message} {_example()}"
    return ParsedNumber(raw, None, None, NumberProblem.MALFORMED, reason)


def _clean(raw: str) -> str:
    """ASCII digits with an optional leading "+", or _Malformed saying what is wrong."""
    number = _echo(raw)
    if len(raw) > MAX_INPUT_LENGTH:
        raise _Malformed(
            _(
                "Die Eingabe ist zu lang für eine Telefonnummer (höchstens %(n)d Zeichen).",
                n=MAX_INPUT_LENGTH,
            )
        )
    plain_input = raw.strip()
    if _PLAIN_INPUT.fullmatch(plain_input):
        # The common case (ASCII digits and separators, a leading +) without the loop below.
        text = _NOT_DIGIT_OR_PLUS.sub("", plain_input)
        if sum(c.isdigit() for c in text) > MAX_DIGITS:
            raise _Malformed(_("„%(number)s“ ist zu lang für eine Telefonnummer.", number=number))
        return text
    out: list[str] = []
    for char in plain_input:
        if char.isdecimal():  # Unicode category Nd: ASCII, full-width, Arabic-Indic, …
            out.append(str(unicodedata.decimal(char)))
            continue
        category = unicodedata.category(char)
        if category == "Cf":  # invisible: zero-width space, LRM/RLM, BOM
            continue
        plain = char if char.isascii() else unicodedata.normalize("NFKC", char)
        if plain == "+":
            if out:
                raise _Malformed(
                    _(
                        "In „%(number)s“ steht ein + an der falschen Stelle; "
                        "das + darf nur einmal ganz am Anfang stehen.",
                        number=number,
                    )
                )
            out.append("+")
        elif not (char.isspace() or plain in SEPARATORS or category == "Pd"):
            raise _Malformed(
                _(
                    "„%(number)s“ enthält das ungültige Zeichen „%(char)s“. Erlaubt sind "
                    "Ziffern, ein + am Anfang sowie Leerzeichen und / - ( ) .",
                    number=number,
                    char=char,
                )
            )
    text = "".join(out)
    if sum(c.isdigit() for c in text) > MAX_DIGITS:
        raise _Malformed(_("„%(number)s“ ist zu lang für eine Telefonnummer.", number=number))
    return text


def _not_mobile_kind(kind: int) -> str:
    kinds = {
        PhoneNumberType.FIXED_LINE: _("eine Festnetznummer"),
        PhoneNumberType.TOLL_FREE: _("eine gebührenfreie Servicenummer"),
        PhoneNumberType.PREMIUM_RATE: _("eine Mehrwertnummer"),
        PhoneNumberType.SHARED_COST: _("eine Servicenummer"),
        PhoneNumberType.VOIP: _("eine VoIP-Nummer"),
        PhoneNumberType.PERSONAL_NUMBER: _("eine persönliche Rufnummer"),
        PhoneNumberType.PAGER: _("eine Pager-Nummer"),
        PhoneNumberType.UAN: _("eine Firmen-Servicenummer"),
        PhoneNumberType.VOICEMAIL: _("eine Sprachbox-Nummer"),
    }
    return kinds.get(kind, _("keine Handynummer"))


def _is_mobile(number: phonenumbers.PhoneNumber) -> bool:
    return phonenumbers.is_valid_number(number) and (
        phonenumbers.number_type(number) in MOBILE_TYPES
    )


def _too_short_for_mobile(text: str, number: phonenumbers.PhoneNumber) -> bool:
    """Entered without a leading 0 or + and fewer digits than any mobile number of its
    country has: "12345" is a valid Vienna landline (01 2345) for phonenumbers, but whoever
    types it has not written an area code and should hear that the number is too short."""
    if text.startswith(("0", "+")):
        return False
    region = phonenumbers.region_code_for_number(number)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region) if region else None
    mobile = metadata.mobile if metadata is not None else None
    lengths = [n for n in (mobile.possible_length if mobile is not None else ()) if n > 0]
    national = phonenumbers.national_significant_number(number)
    return bool(lengths) and len(national) < min(lengths)


def _neighbour_hint(text: str, default_region: str) -> str:
    """A hint when national-format input is a mobile number of a neighbouring country."""
    if text.startswith(("+", "00")):
        return ""
    for region in HINT_REGIONS:
        if region == (default_region or "").upper():
            continue
        try:
            number = phonenumbers.parse(text, region)
        except NumberParseException:
            continue
        if _is_mobile(number):
            return " " + _(
                "Falls die Handynummer %(display)s gemeint ist, bitte mit +%(code)d eingeben.",
                display=phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
                code=number.country_code,
            )
    return ""


def _invalid_message(number: str, cause: str) -> str:
    if cause == "country":
        return _("„%(number)s“ beginnt mit keiner gültigen Ländervorwahl.", number=number)
    if cause == "short":
        return _("„%(number)s“ ist zu kurz für eine Telefonnummer.", number=number)
    if cause == "long":
        return _("„%(number)s“ ist zu lang für eine Telefonnummer.", number=number)
    return _("„%(number)s“ ist keine gültige Telefonnummer.", number=number)


_PARSE_ERROR_CAUSE = {
    NumberParseException.INVALID_COUNTRY_CODE: "country",
    NumberParseException.TOO_SHORT_AFTER_IDD: "short",
    NumberParseException.TOO_SHORT_NSN: "short",
    NumberParseException.TOO_LONG: "long",
}
_IMPOSSIBLE_CAUSE = {
    Possible.INVALID_COUNTRY_CODE: "country",
    Possible.TOO_SHORT: "short",
    Possible.IS_POSSIBLE_LOCAL_ONLY: "short",  # "+43 664": a subscriber number without more
    Possible.TOO_LONG: "long",
}


def parse_number(raw: str, default_region: str = "AT") -> ParsedNumber:
    """Parse one entered number; `ok` means: a valid mobile number (table 93001 not checked)."""
    raw = raw if raw is not None else ""
    if raw.strip() == "":
        return ParsedNumber(
            raw,
            None,
            None,
            NumberProblem.MALFORMED,
            _("Bitte eine Handynummer eingeben, z. B. 0664 1234567 oder +43 664 1234567."),
        )
    try:
        text = _clean(raw)
    except _Malformed as error:
        return _malformed(raw, error.reason)
    echo = _echo(raw)
    if text in ("", "+"):
        return _malformed(raw, _("„%(number)s“ enthält keine Ziffern.", number=echo))
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as error:
        return _malformed(raw, _invalid_message(echo, _PARSE_ERROR_CAUSE.get(error.error_type, "")))
    # A valid number is one of a known type: number_type is is_valid_number's own test
    # (asked once; a Serien-SMS checks thousands of numbers).
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        possible = phonenumbers.is_possible_number_with_reason(number)
        return _malformed(raw, _invalid_message(echo, _IMPOSSIBLE_CAUSE.get(possible, "")))
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    display = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    if kind not in MOBILE_TYPES and _too_short_for_mobile(text, number):
        reason = _(
            "„%(number)s“ ist zu kurz für eine Handynummer. %(example)s",
            number=echo,
            example=_example(),
        )
        return ParsedNumber(raw, e164, display, NumberProblem.NOT_MOBILE, reason)
    if kind not in MOBILE_TYPES:
        reason = _(
            "Die Nummer %(number)s ist %(kind)s; SMS gehen nur an Handynummern.",
            number=echo,
            kind=_not_mobile_kind(kind),
        ) + _neighbour_hint(text, default_region)
        return ParsedNumber(raw, e164, display, NumberProblem.NOT_MOBILE, reason)
    return ParsedNumber(raw, e164, display, None, None)


def _prefix_display(number: phonenumbers.PhoneNumber) -> str:
    """+43 664 for +43 664 1234567: country code and national destination code."""
    national = phonenumbers.national_significant_number(number)
    length = phonenumbers.length_of_national_destination_code(number) or min(3, len(national))
    return f"+{number.country_code} {national[:length]}"


def check_number(
    session: Session,
    raw: str,
    default_region: str = "AT",
    prefixes: Sequence[str] | None = None,
) -> ParsedNumber:
    """parse_number plus table 93001: `ok` means sendable. One query for the prefixes, none
    when the caller passes them (`active_prefixes`, loaded once for a whole batch)."""
    parsed = parse_number(raw, default_region)
    if not parsed.ok or parsed.e164 is None:
        return parsed
    digits = parsed.e164.removeprefix("+")
    allowed = prefixes if prefixes is not None else active_prefixes(session)
    if any(digits.startswith(prefix) for prefix in allowed):
        return parsed
    reason = _(
        "Die Vorwahl %(prefix)s ist nicht in der Konfigurationstabelle %(table)d %(name)s "
        "eingetragen. SMS gehen nur an Handynummern, deren Vorwahl dort eingetragen und aktiv ist.",
        prefix=_prefix_display(phonenumbers.parse(parsed.e164, None)),
        table=TABLE_NUMBER,
        name=TABLE_NAME,
    )
    return dataclasses.replace(parsed, problem=NumberProblem.PREFIX_NOT_ALLOWED, reason=reason)


def require_number(
    session: Session, raw: str, field: str = "number", default_region: str = "AT"
) -> ParsedNumber:
    """check_number for forms: the sendable number, or InputError(reason, field)."""
    parsed = check_number(session, raw, default_region)
    if not parsed.ok:
        raise InputError(parsed.reason or "", field)
    return parsed


def format_display(e164: str) -> str:
    """A stored number for people: "+436641234567" → "+43 664 1234567".

    Anything that does not parse (old or hand-edited data) is shown unchanged.
    """
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
