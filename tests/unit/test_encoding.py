"""GSM 03.38 / UCS-2 segment counting, septet packing and SMS-SUBMIT PDUs (SPEC E1).

Vectors marked "python-gsmmodem" are from faucamp/python-gsmmodem test/test_pdu.py (also quoted
in reference/gsm-modem.md §2.3); "How are you?" is from Qotto/smspdudecoder's README; "hello" /
"hellohello" are the classic 7-bit packing examples. The rest are computed by hand below.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

from webapp.sms import encoding
from webapp.sms.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    analyze,
    build_submit_pdus,
    decode_gsm7,
    encode_gsm7,
    gsm7_pack,
    pack_septets,
    relative_validity_period,
    split_segments,
    unpack_septets,
    validity_period_minutes,
)

EMOJI = "😀"  # U+1F600: one Python character, a surrogate pair in UTF-16
# U+2126 is the OHM SIGN, not the Greek Ω of the table
NOT_GSM7 = ["á", "í", "ó", "ú", "â", "ê", "ç", "š", "č", "ž", "ő", "`", "\u2126", "\x1b"]


# --- independent helpers: decode what the module built without using the module -------------


def unpack_bits(data: bytes, count: int, fill_bits: int) -> list[int]:
    """Septets from a bit string (LSB of each octet first), skipping `fill_bits` bits."""
    bits = "".join(f"{octet:08b}"[::-1] for octet in data)[fill_bits:]
    return [int(bits[7 * i : 7 * i + 7][::-1], 2) for i in range(count)]


def parse_submit(pdu_hex: str) -> dict:
    """Hand-decode an SMS-SUBMIT hex (SMSC 00 + TPDU) into its fields (23.040 §9.2.2.2)."""
    data = bytes.fromhex(pdu_hex)
    assert data[0] == 0x00, "SMSC length 00 = use the SIM's SMSC"
    tpdu = data[1:]
    first, mr, digits, toa = tpdu[0], tpdu[1], tpdu[2], tpdu[3]
    address_octets = (digits + 1) // 2
    semi = "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in tpdu[4 : 4 + address_octets])
    pos = 4 + address_octets
    pid, dcs = tpdu[pos], tpdu[pos + 1]
    pos += 2
    vp = None
    if first & 0x18 == 0x10:
        vp = tpdu[pos]
        pos += 1
    udl = tpdu[pos]
    user_data = tpdu[pos + 1 :]
    udh = user_data[: user_data[0] + 1] if first & 0x40 else b""
    return {
        "first": first,
        "mr": mr,
        "number": semi[:digits],
        "padding": semi[digits:],
        "toa": toa,
        "pid": pid,
        "dcs": dcs,
        "vp": vp,
        "udl": udl,
        "udh": udh,
        "body": user_data[len(udh) :],
        "tpdu_length": len(tpdu),
    }


# --- tables ------------------------------------------------------------------------------------


def test_basic_table_is_the_128_characters_of_gsm_03_38_in_code_order():
    assert len(GSM7_BASIC) == 128
    assert len(set(GSM7_BASIC)) == 128
    spot_checks = {
        0x00: "@",
        0x01: "£",
        0x09: "Ç",
        0x0A: "\n",
        0x0D: "\r",
        0x10: "Δ",
        0x11: "_",
        0x1B: "\x1b",  # ESC placeholder, never accepted as text
        0x1E: "ß",
        0x24: "¤",
        0x40: "¡",
        0x5B: "Ä",
        0x5F: "§",  # python-gsmmodem had "`" here (reference §5)
        0x60: "¿",
        0x7B: "ä",
        0x7F: "à",
    }
    for code, char in spot_checks.items():
        assert GSM7_BASIC[code] == char, hex(code)


def test_extension_table_holds_the_ten_escape_characters():
    assert set(GSM7_EXTENSION) == set("\f^{}\\[~]|€")
    assert len(GSM7_EXTENSION) == 10


def test_the_domain_core_does_not_import_flask():
    tree = ast.parse(Path(encoding.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {"flask", "flask_babel", "sqlalchemy", "webapp"}


# --- analyze -----------------------------------------------------------------------------------

# text, encoding, units, characters, segments, per_segment, remaining, unicode_reason
COUNTS = [
    ("", "GSM-7", 0, 0, 0, 160, 160, None),
    ("Hallo Welt", "GSM-7", 10, 10, 1, 160, 150, None),
    ("äöüßÄÖÜ", "GSM-7", 7, 7, 1, 160, 153, None),
    ("éèùìòÇØøÅåÆæÉÑñüà", "GSM-7", 17, 17, 1, 160, 143, None),
    ("@£$¥§¿¡ΔΦΓΛΩΠΨΣΘΞ", "GSM-7", 17, 17, 1, 160, 143, None),
    ("€", "GSM-7", 2, 1, 1, 160, 158, None),
    ("^{}[]~|\\", "GSM-7", 16, 8, 1, 160, 144, None),
    ("\f", "GSM-7", 2, 1, 1, 160, 158, None),
    ("Preis: 5 €", "GSM-7", 11, 10, 1, 160, 149, None),
    ("a" * 160, "GSM-7", 160, 160, 1, 160, 0, None),
    ("a" * 161, "GSM-7", 161, 161, 2, 153, 145, None),
    ("a" * 306, "GSM-7", 306, 306, 2, 153, 0, None),
    ("a" * 307, "GSM-7", 307, 307, 3, 153, 152, None),
    ("€" * 80, "GSM-7", 160, 80, 1, 160, 0, None),
    # 81 × 2 septets: 76 per part (152 septets, the 153rd cannot hold an ESC pair) → 76 + 5
    ("€" * 81, "GSM-7", 162, 81, 2, 153, 143, None),
    # the € at position 153 moves whole: 152 | € + 151 b | b — ceil(306/153) would say 2
    ("a" * 152 + "€" + "b" * 152, "GSM-7", 306, 305, 3, 153, 152, None),
    ("a" * 152 + "€" + "b" * 10, "GSM-7", 164, 163, 2, 153, 141, None),
    (EMOJI, "UCS-2", 2, 1, 1, 70, 68, EMOJI),
    ("Grüße 😀", "UCS-2", 8, 7, 1, 70, 62, EMOJI),
    ("á" * 70, "UCS-2", 70, 70, 1, 70, 0, "á"),
    ("á" * 71, "UCS-2", 71, 71, 2, 67, 63, "á"),
    ("á" * 134, "UCS-2", 134, 134, 2, 67, 0, "á"),
    ("á" * 135, "UCS-2", 135, 135, 3, 67, 66, "á"),
    (EMOJI * 35, "UCS-2", 70, 35, 1, 70, 0, EMOJI),
    # 33 pairs = 66 units per part, the 67th unit cannot hold a pair → 33 + 3
    (EMOJI * 36, "UCS-2", 72, 36, 2, 67, 61, EMOJI),
    # pair at the 67-unit boundary moves whole: 66 | 😀 + 65 | 1 — ceil(134/67) would say 2
    ("á" * 66 + EMOJI + "á" * 66, "UCS-2", 134, 133, 3, 67, 66, "á"),
    # reference §5: 150 ASCII + 1 emoji = 152 units, not 151
    ("a" * 150 + EMOJI, "UCS-2", 152, 151, 3, 67, 49, EMOJI),
    ("Olá, ça va? 😀", "UCS-2", 14, 13, 1, 70, 56, "á"),
    ("Grüße aus Brno: čšž", "UCS-2", 19, 19, 1, 70, 51, "č"),
]


@pytest.mark.parametrize(
    ("text", "enc", "units", "characters", "segments", "per_segment", "remaining", "reason"),
    COUNTS,
)
def test_analyze_counts(text, enc, units, characters, segments, per_segment, remaining, reason):
    info = analyze(text)
    assert info.encoding == enc
    assert info.units == units
    assert info.characters == characters
    assert info.segments == segments
    assert info.per_segment == per_segment
    assert info.remaining == remaining
    assert info.unicode_reason == reason


@pytest.mark.parametrize("char", NOT_GSM7)
def test_characters_outside_gsm_03_38_force_ucs2_and_are_named(char):
    info = analyze(f"Hallo {char} ä {EMOJI}")
    assert info.encoding == "UCS-2"
    assert info.unicode_reason == char


@pytest.mark.parametrize("char", list(GSM7_BASIC.replace("\x1b", "")) + list(GSM7_EXTENSION))
def test_every_table_character_stays_gsm7(char):
    info = analyze(char)
    assert info.encoding == "GSM-7"
    assert info.units == (2 if char in GSM7_EXTENSION else 1)


# --- split_segments ----------------------------------------------------------------------------

SPLITS = [
    ("a" * 152 + "€" + "b" * 152, ["a" * 152, "€" + "b" * 151, "b"]),
    ("a" * 161, ["a" * 153, "a" * 8]),
    ("á" * 66 + EMOJI + "á" * 66, ["á" * 66, EMOJI + "á" * 65, "á"]),
    (EMOJI * 36, [EMOJI * 33, EMOJI * 3]),
    ("kurz", ["kurz"]),
    ("", []),
]


@pytest.mark.parametrize(("text", "parts"), SPLITS)
def test_split_segments_never_cuts_escape_or_surrogate_pairs(text, parts):
    assert split_segments(text) == parts


def _sample_texts() -> list[str]:
    alphabet = ["a", "ä", "€", "[", " ", "\n"]
    alphabet_ucs2 = [*alphabet, "á", EMOJI, "č"]
    rng = random.Random(0x0338)
    texts = [t for t, *_ in COUNTS] + [t for t, _ in SPLITS]
    for length in (1, 69, 70, 71, 152, 153, 154, 159, 160, 161, 305, 306, 307, 500):
        texts.append("".join(rng.choice(alphabet) for _ in range(length)))
        texts.append("".join(rng.choice(alphabet_ucs2) for _ in range(length)))
    return texts


@pytest.mark.parametrize("text", _sample_texts())
def test_split_segments_agrees_with_analyze_and_rejoins(text):
    info = analyze(text)
    parts = split_segments(text)
    assert "".join(parts) == text
    assert len(parts) == info.segments
    for part in parts:
        if info.encoding == "GSM-7":
            size = len(encode_gsm7(part))
        else:
            size = len(part.encode("utf-16-be")) // 2
        assert 0 < size <= info.per_segment
    if parts:
        last = parts[-1]
        used = (
            len(encode_gsm7(last))
            if info.encoding == "GSM-7"
            else len(last.encode("utf-16-be")) // 2
        )
        assert info.remaining == info.per_segment - used


# --- GSM-7 septets and packing -----------------------------------------------------------------

# text, septets (None = plain ASCII values), packed hex
PACKING = [
    ("hello", None, "e8329bfd06"),  # classic vector
    ("hellohello", None, "e8329bfd4697d9ec37"),  # classic vector
    ("Test", None, "d4f29c0e"),  # by hand: 54|65<<7 = D4, 32|73<<6 = F2, 1C|74<<5 = 9C, 0E
    ("Hello World!", None, "c8329bfd065ddf72363904"),  # python-gsmmodem
    ("12345678", None, "31d98c56b3dd70"),  # python-gsmmodem: 8 septets fill 7 octets
    (
        "[{abc}]~",  # python-gsmmodem
        [0x1B, 0x3C, 0x1B, 0x28, 0x61, 0x62, 0x63, 0x1B, 0x29, 0x1B, 0x3E, 0x1B, 0x3D],
        bytes([27, 222, 6, 21, 22, 143, 55, 169, 141, 111, 211, 3]).hex(),
    ),
    (
        "{åΦΓΛΩΠΨΣΘ€}",  # python-gsmmodem
        [27, 40, 15, 18, 19, 20, 21, 22, 23, 24, 25, 27, 101, 27, 41],
        bytes([27, 212, 67, 50, 161, 84, 44, 23, 76, 102, 83, 222, 164, 0]).hex(),
    ),
    (
        "a[]{}€",  # python-gsmmodem
        [97, 27, 60, 27, 62, 27, 40, 27, 41, 27, 101],
        bytes([225, 13, 111, 227, 219, 160, 54, 169, 77, 25]).hex(),
    ),
]


@pytest.mark.parametrize(("text", "septets", "packed"), PACKING)
def test_gsm7_encode_and_pack_vectors(text, septets, packed):
    expected_septets = septets if septets is not None else [ord(c) for c in text]
    assert encode_gsm7(text) == expected_septets
    assert gsm7_pack(expected_septets).hex() == packed
    assert unpack_septets(bytes.fromhex(packed), len(expected_septets)) == expected_septets
    assert unpack_bits(bytes.fromhex(packed), len(expected_septets), 0) == expected_septets
    assert decode_gsm7(expected_septets) == text


def test_unpack_and_decode_smspdudecoder_vector():
    assert decode_gsm7(unpack_septets(bytes.fromhex("C8F71D14969741F977FD07"), 12)) == (
        "How are you?"
    )


@pytest.mark.parametrize(
    ("septets", "fill_bits", "packed"),
    [
        ([0x41], 1, "82"),  # 'A' shifted past one fill bit
        ([0x7F], 1, "fe"),
        ([0x7F, 0x7F], 1, "fe7f"),  # 1 + 14 bits → 2 octets
        ([0x68, 0x65, 0x6C, 0x6C, 0x6F], 1, "d06536fb0d"),  # "hello" after a UDH: 1 + 35 bits
        ([], 0, ""),
    ],
)
def test_pack_septets_with_fill_bits(septets, fill_bits, packed):
    assert pack_septets(septets, fill_bits).hex() == packed
    assert unpack_bits(bytes.fromhex(packed), len(septets), fill_bits) == septets
    assert unpack_septets(bytes.fromhex(packed), len(septets), fill_bits) == septets


@pytest.mark.parametrize(
    ("septets", "text"),
    [
        ([0x1B, 0x65], "€"),
        ([0x1B, 0x0A], "\f"),
        ([0x1B, 0x41], "A"),  # undefined extension code: show the basic character
        ([0x1B, 0x1B, 0x41], " A"),  # ESC ESC is reserved: a space
        ([0x41, 0x1B], "A"),  # dangling ESC dropped
        ([0x00, 0x02, 0x1E], "@$ß"),
    ],
)
def test_decode_gsm7_escape_handling(septets, text):
    assert decode_gsm7(septets) == text


@pytest.mark.parametrize("text", ["á", "Grüße 😀", "\x1b"])
def test_encode_gsm7_refuses_characters_outside_the_tables(text):
    with pytest.raises(ValueError, match="not in the GSM 7-bit alphabet"):
        encode_gsm7(text)


def test_pack_refuses_bad_input():
    with pytest.raises(ValueError):
        pack_septets([0x80])
    with pytest.raises(ValueError):
        pack_septets([1], fill_bits=7)


# --- relative validity period ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "vp"),
    [
        (0.5, 5),  # python-gsmmodem: 30 min → 5
        (1, 11),  # (11 + 1) × 5 min
        (12, 143),
        (13, 145),  # 12 h + 2 × 30 min
        (16, 151),  # python-gsmmodem
        (24, 167),  # reference §2.1: 167 = 24 h
        (25, 167),  # 1 day + 1 h: nothing between 24 h and 2 days
        (48, 168),
        (72, 169),  # python-gsmmodem: 3 days
        (24 * 7, 173),  # default: one week as 7 days
        (24 * 30, 196),
        (24 * 34, 196),  # 34 days: 30 days is closer than 4 weeks and not above
        (24 * 35, 197),  # python-gsmmodem: 5 weeks
        (24 * 7 * 52, 244),  # python-gsmmodem: 52 weeks = F4
        (24 * 7 * 63, 255),
        (10**6, 255),  # capped at 63 weeks
    ],
)
def test_relative_validity_period_is_closest_not_above(hours, vp):
    assert relative_validity_period(hours) == vp
    assert validity_period_minutes(vp) <= hours * 60
    if vp < 255:
        assert validity_period_minutes(vp + 1) > hours * 60


def test_validity_below_five_minutes_is_refused():
    with pytest.raises(ValueError):
        relative_validity_period(0)


# --- SMS-SUBMIT PDUs ---------------------------------------------------------------------------


def test_single_part_gsm7_pdu_decoded_by_hand():
    (pdu,) = build_submit_pdus("+436641234567", "Test", reference=7)
    assert pdu.hex == "0031000C913466143254760000AD04D4F29C0E"
    assert pdu.hex[0:2] == "00"  # SMSC: length 0 = SIM's SMSC
    assert pdu.hex[2:4] == "31"  # MTI 01 | VPF relative 10 | SRR 20, no UDHI
    assert pdu.hex[4:6] == "00"  # TP-MR: the modem sets it
    # TP-DA: 12 digits, international, 43 66 41 23 45 67 swapped → 34 66 14 32 54 76
    assert pdu.hex[6:22] == "0C91346614325476"
    assert pdu.hex[22:24] == "00"  # TP-PID
    assert pdu.hex[24:26] == "00"  # TP-DCS GSM-7
    assert pdu.hex[26:28] == "AD"  # TP-VP 173 = 173 - 166 = 7 days
    assert pdu.hex[28:30] == "04"  # TP-UDL 4 septets
    assert pdu.hex[30:] == "D4F29C0E"  # "Test" packed
    assert pdu.tpdu_length == 18 == len(pdu.hex) // 2 - 1


@pytest.mark.parametrize(
    ("status_report", "validity_hours", "first_octet", "vp"),
    [(True, 168, 0x31, 0xAD), (False, 168, 0x11, 0xAD), (True, None, 0x21, None)],
)
def test_first_octet_follows_status_report_and_validity(
    status_report, validity_hours, first_octet, vp
):
    (pdu,) = build_submit_pdus("+436641234567", "Test", 0, status_report, validity_hours)
    fields = parse_submit(pdu.hex)
    assert fields["first"] == first_octet
    assert fields["vp"] == vp
    assert pdu.tpdu_length == fields["tpdu_length"] == (18 if vp is not None else 17)


def test_odd_digit_count_is_padded_with_f():
    (pdu,) = build_submit_pdus("+27820001111", "Hi", 0)
    fields = parse_submit(pdu.hex)
    assert (fields["number"], fields["padding"], fields["toa"]) == ("27820001111", "F", 0x91)


@pytest.mark.parametrize(
    ("number", "text", "status_report", "validity_hours", "expected"),
    [
        # python-gsmmodem, no SRR and no VP; reference §2.3: → AT+CMGS=24
        (
            "+27820001111",
            "Hello World!",
            False,
            None,
            "0001000B917228001011F100000CC8329BFD065DDF72363904",
        ),
        # python-gsmmodem UCS-2 with a 52-week VP; their SMSC field 07914400000000F0 → 00
        (
            "+123456789",
            "世界您好！",
            False,
            24 * 7 * 52,
            "001100099121436587F90008F40A4E16754C60A8597DFF01",
        ),
    ],
)
def test_single_part_pdus_match_python_gsmmodem(
    number, text, status_report, validity_hours, expected
):
    (pdu,) = build_submit_pdus(number, text, 0, status_report, validity_hours)
    assert pdu.hex == expected
    assert pdu.tpdu_length == len(expected) // 2 - 1


LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipisicing elit, sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua.Ut enim ad minim veniam, quinostrud exercitation ullamco "
    "laboris nisi ut aliquip ex ea commodo consequat.Duis aute irure dolor in reprehenderit in "
    "voluptate velit esse cillum doloe eu fugiat nulla pariatur.Excepteur sint occaecat cupidatat "
    "non proident, sunt in culpa qui officia deserunt mollit anim id est laborum"
)
LOREM_PDUS = [  # python-gsmmodem test_encodeSmsSubmit_concatenated (rejectDuplicates=True)
    "0045000B915121551532F40000A0050003000301986F79B90D4AC3E7F53688FC66BFE5A0799A0E0AB7CB741668FC"
    "76CFCB637A995E9783C2E4343C3D4F8FD3EE33A8CC4ED359A079990C22BF41E5747DDE7E9341F4721BFE9683D2EE"
    "719A9C26D7DD74509D0E6287C56F791954A683C86FF65B5E06B5C36777181466A7E3F5B0AB4A0795DDE936284C06"
    "B5D3EE741B642FBBD3E1360B14AFA7DD",
    "0045000B915121551532F40000A0050003000302DE73BABC4E0695F165F9384D0FD3D36F37A8CE6687DBE337881D"
    "16BFE5E939C89D9EA741753A28CC4EC7EB6938A88C0795C3A0F1BBDD7E93DFA0F1DB3D2FC7EB61BA8B584FCF41E1"
    "3ABD0C4ACBEBF23288FC66BFE5A0B41B242FC3E56574D94D2ECBD37450DA0DB2BFD975383D4C2F83EC65769A0E2A"
    "CFE765D038CD66D7DB20F29BFD2E83CA",
    "0045000B915121551532F400008C050003000303EA2073FD9C0ED341EE3A9B1D06C1C3F274985E97BB8AF871194E"
    "2FD7E5A079DA4D07BDC7E370791CA683C675789A1CA687E920F7DB0D82CBDF6972D94D6781E675371D947683C675"
    "363C0C8AD7D3A0B7D99C1EA7C32072795E96D7DD7450FBCD66A7E9A0B03BDD06A5C9A0F29C0E6287C56F79BD0D",
]


def test_concatenated_gsm7_matches_python_gsmmodem_apart_from_reject_duplicates():
    pdus = build_submit_pdus(
        "+15125551234", LOREM, 0, request_status_report=False, validity_hours=None
    )
    assert len(pdus) == 3
    for pdu, theirs in zip(pdus, LOREM_PDUS, strict=True):
        # their first octet 45 = UDHI 40 | RD 04 | SUBMIT 01; we never set RD → 41
        assert theirs[2:4] == "45"
        assert pdu.hex == theirs[:2] + "41" + theirs[4:]
        assert pdu.tpdu_length == len(theirs) // 2 - 1


def test_multipart_gsm7_user_data_decodes_back_to_the_parts():
    text = "Grüße aus Wien! " * 9 + "a" * 8 + "€uro [Klammer] {x} ~|^\\ " * 8
    parts = split_segments(text)
    pdus = build_submit_pdus("+436641234567", text, reference=0x1234)
    assert len(pdus) == len(parts) == analyze(text).segments == 3
    assert parts[0].endswith("a" * 8)  # 144 + 8 = 152 septets: the € (2) moved on
    for sequence, (pdu, part) in enumerate(zip(pdus, parts, strict=True), start=1):
        fields = parse_submit(pdu.hex)
        assert fields["first"] == 0x71  # SUBMIT | VPF relative | SRR | UDHI
        assert fields["dcs"] == 0x00
        assert fields["udh"] == bytes([0x05, 0x00, 0x03, 0x34, 3, sequence])  # ref mod 256
        septet_count = fields["udl"] - 7  # 6 UDH octets + 1 fill bit = 7 septets
        assert septet_count == len(encode_gsm7(part)) <= 153
        assert len(fields["udh"]) + len(fields["body"]) == -(-fields["udl"] * 7 // 8)
        septets = unpack_bits(fields["body"], septet_count, fill_bits=1)
        assert decode_gsm7(septets) == part
        assert pdu.tpdu_length == fields["tpdu_length"]
    assert parse_submit(pdus[0].hex)["udl"] == 7 + 152


def test_multipart_ucs2_with_emoji_rejoins():
    # 66 units, then an emoji that would straddle units 67/68, then 45 more units
    text = "Grüße aus Wien – " * 3 + "Frohe Ostern!! " + EMOJI + " Bis bald 🐣🌷 " * 3
    parts = split_segments(text)
    pdus = build_submit_pdus("+436641234567", text, reference=300, validity_hours=24)
    assert len(pdus) == len(parts) == analyze(text).segments == 2
    decoded = []
    for sequence, (pdu, part) in enumerate(zip(pdus, parts, strict=True), start=1):
        fields = parse_submit(pdu.hex)
        assert fields["first"] == 0x71
        assert fields["dcs"] == 0x08
        assert fields["vp"] == 167
        assert fields["udh"] == bytes([0x05, 0x00, 0x03, 300 % 256, 2, sequence])
        assert fields["udl"] == 6 + len(fields["body"]) <= 140  # octets, UDH included
        assert len(fields["body"]) // 2 <= 67
        decoded.append(fields["body"].decode("utf-16-be"))  # strict: no split surrogate
        assert decoded[-1] == part
    assert "".join(decoded) == text
    assert parts[0] == "Grüße aus Wien – " * 3 + "Frohe Ostern!! "  # 66 units
    assert parts[1].startswith(EMOJI)  # the pair moved on whole


def test_a_160_septet_text_stays_one_pdu_without_udh():
    (pdu,) = build_submit_pdus("+436641234567", "x" * 160, 1)
    fields = parse_submit(pdu.hex)
    assert fields["first"] & 0x40 == 0
    assert fields["udl"] == 160
    assert len(fields["body"]) == 140


@pytest.mark.parametrize(
    ("number", "text"),
    [
        ("+436641234567", ""),
        ("", "Test"),
        ("+43 664 1234567", "Test"),
        ("0664/1234567x", "Test"),
        ("+1234567890123456", "Test"),  # 16 digits: longer than E.164 allows
        ("+436641234567", "a" * 153 * 256),  # 256 segments do not fit the 8-bit total
    ],
)
def test_build_refuses_what_cannot_be_sent(number, text):
    with pytest.raises(ValueError):
        build_submit_pdus(number, text, 0)
