"""PDU decoding (encoding.py `# --- decoding ---`): SMS-SUBMIT for the simulator, SMS-DELIVER and
SMS-STATUS-REPORT for the receive path.

Vectors: "Hello World!", the UCS-2 SUBMIT and the status report are python-gsmmodem's
(test/test_pdu.py, quoted in reference/gsm-modem.md §2.3 / §2.5); "How are you?" packed is
Qotto/smspdudecoder's README example; the alphanumeric "Google" address is 11 semi-octets
(6 septets = 42 bits). DELIVER PDUs are assembled by hand below, field by field.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from webapp.sms.encoding import (
    GSM7_BASIC,
    Concatenation,
    analyze,
    build_submit_pdus,
    decode_deliver_pdu,
    decode_status_report_pdu,
    decode_submit_pdu,
    decode_timestamp,
    join_parts,
    pdu_type,
    relative_validity_period,
)

EMOJI = "😀"
# 2013-07-17 15:58:09 +02:00 (zone 0x80 = 8 quarter hours)
SCTS = "31707151859080"


def deliver(oa: str, dcs: str, udl: str, ud: str, first: str = "04", scts: str = SCTS) -> str:
    """SMSC 00 | first octet | TP-OA | PID 00 | DCS | SCTS | UDL | UD."""
    return "00" + first + oa + "00" + dcs + scts + udl + ud


# --- SMS-SUBMIT --------------------------------------------------------------------------------


def test_submit_vector_hello_world():
    sms = decode_submit_pdu("0001000B917228001011F100000CC8329BFD065DDF72363904")
    assert sms.recipient == "+27820001111"
    assert sms.text == "Hello World!"
    assert sms.encoding == "GSM-7"
    assert sms.status_report_requested is False
    assert sms.validity is None
    assert sms.concatenation is None
    assert sms.tpdu_length == 24  # what AT+CMGS=24 announced


def test_submit_vector_ucs2_with_smsc_and_validity():
    sms = decode_submit_pdu("07914400000000F01100099121436587F90008F40A4E16754C60A8597DFF01")
    assert sms.recipient == "+123456789"
    assert sms.text == "世界您好！"
    assert sms.encoding == "UCS-2"
    assert sms.validity == 0xF4
    assert sms.tpdu_length == 23


def test_submit_without_smsc_field():
    pdu = build_submit_pdus("+436641234567", "Hallo", 1)[0]
    assert decode_submit_pdu(pdu.hex[2:], with_smsc=False).text == "Hallo"


TEXTS = [
    "Hallo Welt",
    "Grüße aus Wien: ÄÖÜ äöü ß",
    "Preis: 5 €",
    "^{}[]~|\\ und \f",
    GSM7_BASIC.replace("\x1b", ""),
    "Hallo " + EMOJI,
    "x" * 160,
    "y" * 161,
    "z" * 307,
    "€" * 100,
    "ä" * 70 + "ő",
    "Ω" * 69 + EMOJI + "Ω" * 80,
    EMOJI * 40,
]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_what_build_submit_pdus_builds_decodes_back(text):
    pdus = build_submit_pdus("+436641234567", text, 200, validity_hours=168)
    parts = [decode_submit_pdu(pdu.hex) for pdu in pdus]
    assert join_parts(part.text for part in parts) == text
    assert {part.recipient for part in parts} == {"+436641234567"}
    assert {part.encoding for part in parts} == {analyze(text).encoding}
    assert all(part.status_report_requested for part in parts)
    assert {part.validity for part in parts} == {relative_validity_period(168)}
    assert [part.tpdu_length for part in parts] == [pdu.tpdu_length for pdu in pdus]
    if len(pdus) == 1:
        assert parts[0].concatenation is None
    else:
        assert [part.concatenation for part in parts] == [
            Concatenation(200, len(pdus), n) for n in range(1, len(pdus) + 1)
        ]


def test_submit_refuses_other_types():
    with pytest.raises(ValueError, match="SMS-SUBMIT"):
        decode_submit_pdu(deliver("0B915121551532F4", "00", "05", "E8329BFD06"))


# --- SMS-DELIVER -------------------------------------------------------------------------------


def test_deliver_gsm7_international_sender_and_timestamp():
    sms = decode_deliver_pdu(deliver("0B913466143254F7", "00", "0C", "C8F71D14969741F977FD07"))
    assert sms.sender == "+43664123457"
    assert sms.text == "How are you?"
    assert sms.encoding == "GSM-7"
    assert sms.smsc is None
    assert sms.timestamp == datetime(2013, 7, 17, 15, 58, 9, tzinfo=timezone(timedelta(hours=2)))
    assert sms.concatenation is None


def test_deliver_alphanumeric_sender_and_smsc():
    pdu = "07917248014000F5" + deliver("0BD0C7F7FBCC2E03", "00", "05", "E8329BFD06")[2:]
    sms = decode_deliver_pdu(pdu)
    assert sms.sender == "Google"
    assert sms.smsc == "+27841004005"
    assert sms.text == "hello"


def test_deliver_national_sender_has_no_plus():
    sms = decode_deliver_pdu(deliver("0AA18092020000", "00", "05", "E8329BFD06"))
    assert sms.sender == "0829200000"


def test_deliver_ucs2_with_emoji():
    body = ("Grüß " + EMOJI).encode("utf-16-be")
    sms = decode_deliver_pdu(deliver("0B913466143254F7", "08", f"{len(body):02X}", body.hex()))
    assert sms.text == "Grüß " + EMOJI
    assert sms.encoding == "UCS-2"


@pytest.mark.parametrize("dcs", ["04", "F4", "14"])
def test_deliver_8bit(dcs):
    sms = decode_deliver_pdu(deliver("0B913466143254F7", dcs, "03", "01FF41"))
    assert sms.encoding == "8-bit"
    assert sms.data == b"\x01\xffA"


@pytest.mark.parametrize("dcs", ["10", "F0", "C0", "D0"])
def test_deliver_gsm7_variants_of_dcs(dcs):
    assert decode_deliver_pdu(deliver("0B913466143254F7", dcs, "05", "E8329BFD06")).text == "hello"


@pytest.mark.parametrize("dcs", ["18", "E0"])
def test_deliver_ucs2_variants_of_dcs(dcs):
    assert decode_deliver_pdu(deliver("0B913466143254F7", dcs, "02", "00E4")).text == "ä"


def test_deliver_concatenated_gsm7_8bit_reference():
    # UDH 05 00 03 2A 02 01, 1 fill bit; "hello" after it: UDL = 7 + 5 septets
    septets = [0x68, 0x65, 0x6C, 0x6C, 0x6F]
    value = sum(s << (1 + 7 * i) for i, s in enumerate(septets))
    body = value.to_bytes((1 + 7 * 5 + 7) // 8, "little").hex()
    sms = decode_deliver_pdu(deliver("0B913466143254F7", "00", "0C", "0500032A0201" + body, "44"))
    assert sms.text == "hello"
    assert sms.concatenation == Concatenation(0x2A, 2, 1)


def test_deliver_concatenated_ucs2_16bit_reference():
    body = "060804012C0302" + "00E400F6"
    sms = decode_deliver_pdu(deliver("0B913466143254F7", "08", "0B", body, "44"))
    assert sms.text == "äö"
    assert sms.concatenation == Concatenation(0x012C, 3, 2, wide=True)


def test_surrogate_pair_split_across_parts_is_joined():
    units = EMOJI.encode("utf-16-be")
    first = decode_deliver_pdu(deliver("0B913466143254F7", "08", "02", units[:2].hex()))
    second = decode_deliver_pdu(deliver("0B913466143254F7", "08", "02", units[2:].hex()))
    assert join_parts([first.text, second.text]) == EMOJI


def test_deliver_refuses_truncated_and_wrong_type():
    with pytest.raises(ValueError):
        decode_deliver_pdu(deliver("0B913466143254F7", "08", "04", "00E4"))
    with pytest.raises(ValueError, match="SMS-DELIVER"):
        decode_deliver_pdu("0001000B917228001011F100000CC8329BFD065DDF72363904")
    with pytest.raises(ValueError, match="hex"):
        decode_deliver_pdu("00XYZ")
    with pytest.raises(ValueError, match="too short"):
        decode_deliver_pdu("0004")


# --- SMS-STATUS-REPORT -------------------------------------------------------------------------

REPORT = "07917248014000F506B70AA18092020000317071518590803170715185418000"


def test_status_report_vector():
    report = decode_status_report_pdu(REPORT)
    assert report.message_reference == 183  # matches +CMGS: 183
    assert report.recipient == "0829200000"
    assert report.status == 0
    assert report.delivered and report.final and not report.failed
    assert report.smsc == "+27841004005"
    zone = timezone(timedelta(hours=2))
    assert report.sc_timestamp == datetime(2013, 7, 17, 15, 58, 9, tzinfo=zone)
    assert report.discharge_time == datetime(2013, 7, 17, 15, 58, 14, tzinfo=zone)


@pytest.mark.parametrize(
    ("status", "delivered", "final", "failed"),
    [
        (0x00, True, True, False),
        (0x01, True, True, False),
        (0x20, False, False, False),  # SC still trying
        (0x30, False, False, False),
        (0x41, False, True, True),  # permanent error
        (0x44, False, True, True),
        (0x62, False, True, True),  # temporary error, SC stopped trying
    ],
)
def test_status_report_status_values(status, delivered, final, failed):
    report = decode_status_report_pdu(REPORT[:-2] + f"{status:02X}")
    assert (report.delivered, report.final, report.failed) == (delivered, final, failed)


def test_pdu_type():
    assert pdu_type(REPORT) == 2
    assert pdu_type(deliver("0B913466143254F7", "00", "05", "E8329BFD06")) == 0
    assert pdu_type("0001000B917228001011F100000CC8329BFD065DDF72363904") == 1


# --- time stamps -------------------------------------------------------------------------------


def test_timestamp_with_negative_zone():
    # 2024-12-31 23:59:58, zone 0x4A: sign bit set, 2 tens + 4 units = 24 quarters = -6 h
    stamp = decode_timestamp(bytes.fromhex("42211332958" + "54A"))
    assert stamp == datetime(2024, 12, 31, 23, 59, 58, tzinfo=timezone(timedelta(hours=-6)))


def test_timestamp_of_zeros_is_none():
    assert decode_timestamp(bytes(7)) is None
