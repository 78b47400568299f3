"""GSM 03.38 / UCS-2 text handling, segment counting and SMS-SUBMIT PDUs (SPEC E1).

`analyze` is the one segment counter of the project: the live counter in the editor, the outbox
and the transports all ask it, so what the user sees is what the modem sends. `split_segments`
and `build_submit_pdus` follow exactly the same packing rules.

Pure Python on purpose (no Flask, no database): facts in `reference/gsm-modem.md` §2 and §5
(3GPP TS 23.038 alphabet, TS 23.040 SMS-SUBMIT layout).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

ESC = 0x1B
"""Escape to the extension table; an extension character costs ESC + its code = 2 septets."""

# 23.038 §6.2.1 default alphabet, index = septet value. 0x1B is the escape code, not a character:
# it is kept as "\x1b" only to hold the position and is never accepted as text.
GSM7_BASIC: str = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# 23.038 §6.2.1.1 extension table (reached via ESC), in code order.
GSM7_EXTENSION_CODES: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
GSM7_EXTENSION: str = "".join(GSM7_EXTENSION_CODES)

_BASIC_CODES: dict[str, int] = {ch: code for code, ch in enumerate(GSM7_BASIC) if code != ESC}
_EXTENSION_BY_CODE: dict[int, str] = {code: ch for ch, code in GSM7_EXTENSION_CODES.items()}

GSM7_SINGLE = 160
GSM7_MULTI = 153  # 140 octets minus the 6-octet UDH and 1 fill bit = 153 septets
UCS2_SINGLE = 70
UCS2_MULTI = 67  # (140 - 6) octets / 2
MAX_SEGMENTS = 255  # the concatenation IE holds the total in one octet

_LIMITS: dict[Encoding, tuple[int, int]] = {
    "GSM-7": (GSM7_SINGLE, GSM7_MULTI),
    "UCS-2": (UCS2_SINGLE, UCS2_MULTI),
}


@dataclass(frozen=True)
class SegmentInfo:
    """What a text costs as SMS: encoding, length in units, segments and room left."""

    encoding: Encoding
    units: int
    characters: int
    segments: int
    per_segment: int
    remaining: int
    unicode_reason: str | None


@dataclass(frozen=True)
class SubmitPdu:
    """One SMS-SUBMIT ready for `AT+CMGS=<tpdu_length>` in PDU mode (AT+CMGF=0)."""

    hex: str
    tpdu_length: int


@dataclass(frozen=True)
class _Plan:
    encoding: Encoding
    costs: list[int]  # units per Python character
    reason: str | None
    bounds: list[tuple[int, int]]  # [start, end) character slices, one per segment


def _plan(text: str) -> _Plan:
    """Choose the encoding and pack the characters greedily into segments."""
    costs: list[int] = []
    reason: str | None = None
    for ch in text:
        if ch in _BASIC_CODES:
            costs.append(1)
        elif ch in GSM7_EXTENSION_CODES:
            costs.append(2)
        else:
            reason = ch
            break
    encoding: Encoding = "GSM-7"
    if reason is not None:
        encoding = "UCS-2"
        # Python iterates code points; a non-BMP one is a UTF-16 surrogate pair = 2 units.
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    single, multi = _LIMITS[encoding]
    return _Plan(encoding, costs, reason, _pack(costs, single, multi))


def _pack(costs: Sequence[int], single: int, multi: int) -> list[tuple[int, int]]:
    total = sum(costs)
    if total == 0:
        return []
    if total <= single:
        return [(0, len(costs))]
    # Greedy, character by character: an ESC+char pair or a surrogate pair that does not fit
    # moves whole to the next segment, so ceil(units / multi) can undercount.
    bounds: list[tuple[int, int]] = []
    start = used = 0
    for index, cost in enumerate(costs):
        if used + cost > multi:
            bounds.append((start, index))
            start, used = index, 0
        used += cost
    bounds.append((start, len(costs)))
    return bounds


def analyze(text: str) -> SegmentInfo:
    """Count `text` as SMS: GSM-7 if every character is in the GSM 03.38 tables, else UCS-2.

    GSM-7 counts septets (extension characters 2), UCS-2 counts UTF-16 code units (emoji 2).
    A single SMS holds 160 / 70 units, a part of a multipart SMS 153 / 67. An empty text is
    0 segments; refusing it is the caller's business.
    """
    plan = _plan(text)
    single, multi = _LIMITS[plan.encoding]
    units = sum(plan.costs)
    segments = len(plan.bounds)
    if segments <= 1:
        per_segment, used_in_last = single, units
    else:
        start, end = plan.bounds[-1]
        per_segment, used_in_last = multi, sum(plan.costs[start:end])
    return SegmentInfo(
        encoding=plan.encoding,
        units=units,
        characters=len(text),
        segments=segments,
        per_segment=per_segment,
        remaining=per_segment - used_in_last,
        unicode_reason=plan.reason,
    )


def split_segments(text: str) -> list[str]:
    """The pieces of `text` that go into each segment (same packing as `analyze`)."""
    return [text[start:end] for start, end in _plan(text).bounds]


def is_gsm7(text: str) -> bool:
    """True if `text` can be sent in the GSM 7-bit default alphabet (with extension table)."""
    return all(ch in _BASIC_CODES or ch in GSM7_EXTENSION_CODES for ch in text)


def encode_gsm7(text: str) -> list[int]:
    """Septet values of `text`, extension characters as ESC + code; ValueError if impossible."""
    septets: list[int] = []
    for position, ch in enumerate(text):
        if ch in _BASIC_CODES:
            septets.append(_BASIC_CODES[ch])
        elif ch in GSM7_EXTENSION_CODES:
            septets += (ESC, GSM7_EXTENSION_CODES[ch])
        else:
            raise ValueError(f"{ch!r} at position {position} is not in the GSM 7-bit alphabet")
    return septets


def decode_gsm7(septets: Iterable[int]) -> str:
    """Text of unpacked septet values (the reverse of `encode_gsm7`)."""
    out: list[str] = []
    escaped = False
    for septet in septets:
        if not 0 <= septet <= 0x7F:
            raise ValueError(f"septet out of range: {septet}")
        if escaped:
            escaped = False
            if septet == ESC:
                out.append(" ")  # 23.038: ESC ESC is reserved; display a space
            else:
                # 23.038: an undefined extension code shows the default-alphabet character.
                out.append(_EXTENSION_BY_CODE.get(septet, GSM7_BASIC[septet]))
        elif septet == ESC:
            escaped = True
        else:
            out.append(GSM7_BASIC[septet])
    # A dangling ESC at the end carries no character and is dropped.
    return "".join(out)


def pack_septets(septets: Iterable[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB first into octets, after `fill_bits` zero bits (0-6).

    The fill bits align the first septet after a UDH on a septet boundary (23.040 §9.2.3.24):
    a 6-octet UDH is 48 bits, so 1 fill bit makes it 7 septets.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, not {fill_bits}")
    out = bytearray()
    accumulator, bits = 0, fill_bits
    for septet in septets:
        if not 0 <= septet <= 0x7F:
            raise ValueError(f"septet out of range: {septet}")
        accumulator |= septet << bits
        bits += 7
        while bits >= 8:
            out.append(accumulator & 0xFF)
            accumulator >>= 8
            bits -= 8
    if bits:
        out.append(accumulator & 0xFF)
    return bytes(out)


def gsm7_pack(septets: Iterable[int]) -> bytes:
    """Pack septets into octets without fill bits (user data without UDH)."""
    return pack_septets(septets, 0)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """The `count` septets packed in `data` after `fill_bits` bits (reverse of `pack_septets`).

    The count comes from TP-UDL: 7 zero bits at the end of the last octet are padding, not '@'.
    """
    if len(data) * 8 < fill_bits + 7 * count:
        raise ValueError("not enough data for the septet count")
    value = int.from_bytes(data, "little")
    return [(value >> (fill_bits + 7 * index)) & 0x7F for index in range(count)]


def _validity_minutes(vp: int) -> int:
    if vp <= 143:
        return (vp + 1) * 5
    if vp <= 167:
        return 12 * 60 + (vp - 143) * 30
    if vp <= 196:
        return (vp - 166) * 24 * 60
    return (vp - 192) * 7 * 24 * 60


# Strictly increasing in vp, so the closest value not above a request is a bisection.
_VP_MINUTES: tuple[int, ...] = tuple(_validity_minutes(vp) for vp in range(256))


def validity_period_minutes(vp: int) -> int:
    """Minutes meant by a relative TP-VP octet (23.040 §9.2.3.12.1)."""
    if not 0 <= vp <= 255:
        raise ValueError(f"TP-VP must be 0..255, not {vp}")
    return _VP_MINUTES[vp]


def relative_validity_period(hours: float) -> int:
    """The relative TP-VP octet closest to `hours` without exceeding it (max 63 weeks)."""
    index = bisect.bisect_right(_VP_MINUTES, hours * 60) - 1
    if index < 0:
        raise ValueError(f"validity must be at least 5 minutes, not {hours} hours")
    return index


_NUMBER = re.compile(r"\+?([0-9]{1,15})")


def _address_field(number_e164: str) -> bytes:
    """TP-DA: digit count, type 0x91 (international), digits as swapped semi-octets."""
    match = _NUMBER.fullmatch(number_e164)
    if match is None:
        raise ValueError(f"not an E.164 number: {number_e164!r}")
    digits = match.group(1)
    padded = digits + "F" * (len(digits) % 2)  # odd count: last semi-octet is F
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), 0x91]) + bytes.fromhex(swapped)


# First octet bits of SMS-SUBMIT (23.040 §9.2.2.2).
_MTI_SUBMIT = 0x01
_VPF_RELATIVE = 0x10
_SRR = 0x20
_UDHI = 0x40
_DCS = {"GSM-7": 0x00, "UCS-2": 0x08}


def build_submit_pdus(
    number_e164: str,
    text: str,
    reference: int,
    request_status_report: bool = True,
    validity_hours: int | None = 24 * 7,
) -> list[SubmitPdu]:
    """SMS-SUBMIT PDUs for `text` to `number_e164`, one per segment of `split_segments`.

    Each hex starts with SMSC length 00 (use the SIM's SMSC); `tpdu_length` is what AT+CMGS
    needs. Multipart messages carry UDH 05 00 03 <reference mod 256> <total> <seq>; the same
    reference must not be reused for another message to the same number while parts are open.
    TP-MR is 00 because the modem assigns it (the +CMGS answer tells which).
    """
    if not text:
        raise ValueError("an SMS needs a text")
    plan = _plan(text)
    parts = [text[start:end] for start, end in plan.bounds]
    if len(parts) > MAX_SEGMENTS:
        raise ValueError(f"{len(parts)} segments, at most {MAX_SEGMENTS} possible")
    multipart = len(parts) > 1

    first_octet = _MTI_SUBMIT
    validity = b""
    if request_status_report:
        first_octet |= _SRR
    if validity_hours is not None:
        first_octet |= _VPF_RELATIVE
        validity = bytes([relative_validity_period(validity_hours)])
    if multipart:
        first_octet |= _UDHI
    # first octet, TP-MR, TP-DA, TP-PID, TP-DCS, [TP-VP]
    head = (
        bytes([first_octet, 0x00])
        + _address_field(number_e164)
        + bytes([0x00, _DCS[plan.encoding]])
        + validity
    )

    pdus: list[SubmitPdu] = []
    for sequence, part in enumerate(parts, start=1):
        udh = bytes([0x05, 0x00, 0x03, reference % 256, len(parts), sequence]) if multipart else b""
        if plan.encoding == "GSM-7":
            septets = encode_gsm7(part)
            fill_bits = (7 - len(udh) * 8 % 7) % 7
            user_data = udh + pack_septets(septets, fill_bits)
            # GSM-7 TP-UDL counts septets, the UDH (with its fill bits) included.
            udl = (len(udh) * 8 + fill_bits) // 7 + len(septets)
        else:
            # UTF-16 rather than strict UCS-2, so emoji survive (handsets render the pairs).
            user_data = udh + part.encode("utf-16-be")
            udl = len(user_data)
        tpdu = head + bytes([udl]) + user_data
        pdus.append(SubmitPdu(hex="00" + tpdu.hex().upper(), tpdu_length=len(tpdu)))
    return pdus


# --- decoding ------------------------------------------------------------------------------------
# The other direction: SMS-SUBMIT (what the modem simulator receives), SMS-DELIVER and
# SMS-STATUS-REPORT (what the modem hands us), 23.040 §9.2.2. Tests: tests/unit/test_pdu_decode.py.

DecodedEncoding = Literal["GSM-7", "UCS-2", "8-bit"]

_MTI_MASK = 0x03
_MTI_DELIVER = 0x00
_MTI_STATUS_REPORT = 0x02
_VPF_MASK = 0x18
_TOA_INTERNATIONAL = 0x10  # type-of-number bits 6..4 = 001
_TOA_ALPHANUMERIC = 0x50  # type-of-number bits 6..4 = 101


@dataclass(frozen=True)
class Concatenation:
    """The concatenation IE of a part: IEI 0x00 (8-bit reference) or 0x08 (16-bit)."""

    reference: int
    total: int
    sequence: int
    wide: bool = False  # True for IEI 0x08


@dataclass(frozen=True)
class DecodedSubmit:
    """An SMS-SUBMIT as the SMS centre would see it (what the phone gets, plus the envelope)."""

    recipient: str
    text: str
    encoding: DecodedEncoding
    message_reference: int
    status_report_requested: bool
    validity: int | None  # relative TP-VP octet; None when absent or not relative
    concatenation: Concatenation | None
    pid: int
    dcs: int
    tpdu_length: int
    data: bytes = field(repr=False, default=b"")  # user data without UDH (8-bit payloads)


@dataclass(frozen=True)
class DecodedDeliver:
    """An SMS-DELIVER: a received SMS (or one part of a concatenated one)."""

    sender: str
    text: str
    encoding: DecodedEncoding
    timestamp: datetime | None  # TP-SCTS, when the SMS centre got it
    concatenation: Concatenation | None
    smsc: str | None
    pid: int
    dcs: int
    data: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class DecodedStatusReport:
    """An SMS-STATUS-REPORT: what became of the SMS with TP-MR `message_reference`."""

    message_reference: int
    recipient: str
    status: int  # TP-ST
    sc_timestamp: datetime | None  # when the centre got the original
    discharge_time: datetime | None  # when it was delivered (or the final failure)
    smsc: str | None

    @property
    def delivered(self) -> bool:
        """0x00-0x02: received, forwarded unconfirmed, replaced."""
        return self.status <= 0x02

    @property
    def final(self) -> bool:
        """False while the centre is still trying (0x20-0x3F temporary errors)."""
        return not 0x20 <= self.status <= 0x3F

    @property
    def failed(self) -> bool:
        """A final failure: permanent (0x40-0x5F) or temporary with no more tries (0x60-0x7F)."""
        return self.status >= 0x40


class _Reader:
    """Octets of a PDU with a cursor; a short PDU raises ValueError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise ValueError(f"PDU too short: need {count} octets at {self.pos}")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def octet(self) -> int:
        return self.take(1)[0]

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def _pdu_bytes(pdu_hex: str) -> bytes:
    try:
        return bytes.fromhex(pdu_hex.strip())
    except ValueError as exc:
        raise ValueError(f"not a hex PDU: {exc}") from None


def _semi_octets(data: bytes) -> str:
    """Swapped semi-octets as digits; F (filler) dropped, * # a b c as in 23.040 §9.1.2.3."""
    digits = "0123456789*#abc"
    out = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble != 0x0F:
                out.append(digits[nibble])
    return "".join(out)


def _address(reader: _Reader) -> str:
    """TP-OA / TP-DA / TP-RA: length in semi-octets, TOA, value."""
    length = reader.octet()
    toa = reader.octet()
    value = reader.take((length + 1) // 2)
    if toa & 0x70 == _TOA_ALPHANUMERIC:
        return decode_gsm7(unpack_septets(value, length * 4 // 7)).rstrip("\x00")
    digits = _semi_octets(value)[:length]
    return ("+" + digits) if toa & 0x70 == _TOA_INTERNATIONAL else digits


def _smsc(reader: _Reader) -> str | None:
    """The SMSC field in front of a TPDU: length in octets (TOA included); 0 = none."""
    length = reader.octet()
    if length == 0:
        return None
    toa = reader.octet()
    digits = _semi_octets(reader.take(length - 1))
    return ("+" + digits) if toa & 0x70 == _TOA_INTERNATIONAL and digits else digits or None


def decode_timestamp(data: bytes) -> datetime | None:
    """A 7-octet TP-SCTS/TP-DT: swapped BCD, zone in quarter hours with sign bit 0x08."""
    if len(data) != 7:
        raise ValueError("a timestamp has 7 octets")

    def bcd(octet: int) -> int:
        return (octet & 0x0F) * 10 + (octet >> 4)

    year, month, day, hour, minute, second = (bcd(octet) for octet in data[:6])
    zone = data[6]
    quarters = (zone & 0x07) * 10 + (zone >> 4)
    offset = timedelta(minutes=15 * quarters) * (-1 if zone & 0x08 else 1)
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError:
        return None  # some modems and test networks send zeros: no usable time


def _dcs_encoding(dcs: int) -> DecodedEncoding:
    """The alphabet of a TP-DCS (23.038 §4)."""
    group = dcs & 0xF0
    if dcs & 0xC0 == 0x00 or dcs & 0xC0 == 0x40:  # general data coding (and auto-deletion)
        if dcs & 0x20:
            raise ValueError(f"compressed user data is not supported (DCS {dcs:#04x})")
        return ("GSM-7", "8-bit", "UCS-2", "GSM-7")[(dcs >> 2) & 0x03]
    if group in (0xC0, 0xD0):  # message waiting, discard/store, GSM-7
        return "GSM-7"
    if group == 0xE0:  # message waiting, store, UCS-2
        return "UCS-2"
    if group == 0xF0:  # data coding/message class
        return "8-bit" if dcs & 0x04 else "GSM-7"
    raise ValueError(f"reserved data coding scheme {dcs:#04x}")


def _concatenation(udh: bytes) -> Concatenation | None:
    """The concatenation IE (0x00 or 0x08) of a UDH (without its length octet)."""
    pos = 0
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise ValueError("truncated user data header")
        if iei == 0x00 and length == 3:
            return Concatenation(value[0], value[1], value[2])
        if iei == 0x08 and length == 4:
            return Concatenation((value[0] << 8) | value[1], value[2], value[3], wide=True)
        pos += 2 + length
    return None


def _user_data(
    reader: _Reader, encoding: DecodedEncoding, has_udh: bool
) -> tuple[str, Concatenation | None, bytes]:
    """TP-UDL + TP-UD: the text, the concatenation IE and the raw payload without UDH."""
    udl = reader.octet()
    user_data = reader.rest()
    udh = b""
    if has_udh:
        if not user_data:
            raise ValueError("UDHI set but no user data")
        udh = user_data[: user_data[0] + 1]
        if len(udh) != user_data[0] + 1:
            raise ValueError("truncated user data header")
    concatenation = _concatenation(udh[1:]) if udh else None
    if encoding == "GSM-7":
        fill_bits = (7 - len(udh) * 8 % 7) % 7
        header_septets = (len(udh) * 8 + fill_bits) // 7
        count = udl - header_septets
        if count < 0:
            raise ValueError("TP-UDL smaller than the user data header")
        septets = unpack_septets(user_data[len(udh) :], count, fill_bits)
        return decode_gsm7(septets), concatenation, b""
    payload = user_data[len(udh) : udl]
    if len(payload) != udl - len(udh):
        raise ValueError("user data shorter than TP-UDL")
    if encoding == "UCS-2":
        # surrogatepass: a pair split across parts is rejoined by `join_parts`.
        return payload.decode("utf-16-be", "surrogatepass"), concatenation, payload
    return payload.decode("latin-1"), concatenation, payload


def join_parts(texts: Iterable[str]) -> str:
    """Join the texts of the parts in order; UTF-16 surrogate halves split across parts meet."""
    joined = "".join(texts)
    return joined.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")


def pdu_type(pdu_hex: str, with_smsc: bool = True) -> int:
    """TP-MTI of a PDU: 0 DELIVER (or DELIVER-REPORT), 1 SUBMIT, 2 STATUS-REPORT (or COMMAND)."""
    reader = _Reader(_pdu_bytes(pdu_hex))
    if with_smsc:
        _smsc(reader)
    return reader.octet() & _MTI_MASK


def decode_submit_pdu(pdu_hex: str, with_smsc: bool = True) -> DecodedSubmit:
    """Decode an SMS-SUBMIT as written after AT+CMGS (SMSC field first unless `with_smsc`)."""
    reader = _Reader(_pdu_bytes(pdu_hex))
    if with_smsc:
        _smsc(reader)
    start = reader.pos
    first = reader.octet()
    if first & _MTI_MASK != _MTI_SUBMIT:
        raise ValueError(f"not an SMS-SUBMIT (first octet {first:#04x})")
    reference = reader.octet()
    recipient = _address(reader)
    pid, dcs = reader.octet(), reader.octet()
    validity: int | None = None
    vpf = first & _VPF_MASK
    if vpf == _VPF_RELATIVE:
        validity = reader.octet()
    elif vpf:
        reader.take(7)  # absolute or enhanced format
    encoding = _dcs_encoding(dcs)
    text, concatenation, data = _user_data(reader, encoding, bool(first & _UDHI))
    return DecodedSubmit(
        recipient=recipient,
        text=text,
        encoding=encoding,
        message_reference=reference,
        status_report_requested=bool(first & _SRR),
        validity=validity,
        concatenation=concatenation,
        pid=pid,
        dcs=dcs,
        tpdu_length=len(reader.data) - start,
        data=data,
    )


def decode_deliver_pdu(pdu_hex: str) -> DecodedDeliver:
    """Decode an SMS-DELIVER as listed by AT+CMGL / AT+CMGR in PDU mode (SMSC field first)."""
    reader = _Reader(_pdu_bytes(pdu_hex))
    smsc = _smsc(reader)
    first = reader.octet()
    if first & _MTI_MASK != _MTI_DELIVER:
        raise ValueError(f"not an SMS-DELIVER (first octet {first:#04x})")
    sender = _address(reader)
    pid, dcs = reader.octet(), reader.octet()
    timestamp = decode_timestamp(reader.take(7))
    encoding = _dcs_encoding(dcs)
    text, concatenation, data = _user_data(reader, encoding, bool(first & _UDHI))
    return DecodedDeliver(
        sender=sender,
        text=text,
        encoding=encoding,
        timestamp=timestamp,
        concatenation=concatenation,
        smsc=smsc,
        pid=pid,
        dcs=dcs,
        data=data,
    )


def decode_status_report_pdu(pdu_hex: str) -> DecodedStatusReport:
    """Decode an SMS-STATUS-REPORT (from `+CDS: <len>` or a stored report; SMSC field first)."""
    reader = _Reader(_pdu_bytes(pdu_hex))
    smsc = _smsc(reader)
    first = reader.octet()
    if first & _MTI_MASK != _MTI_STATUS_REPORT:
        raise ValueError(f"not an SMS-STATUS-REPORT (first octet {first:#04x})")
    reference = reader.octet()
    recipient = _address(reader)
    sc_timestamp = decode_timestamp(reader.take(7))
    discharge_time = decode_timestamp(reader.take(7))
    status = reader.octet()
    return DecodedStatusReport(
        message_reference=reference,
        recipient=recipient,
        status=status,
        sc_timestamp=sc_timestamp,
        discharge_time=discharge_time,
        smsc=smsc,
    )
