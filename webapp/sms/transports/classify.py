"""What every provider error means for a message: the one place that decides (issue 4).

Where the cause is the account, the SIM or the settings (credentials, PIN, sender), the verdict
stops the run (`fails_run`) and keeps the message queued rather than failing it.

websms status codes (reference/websms-api.md §4), HTTP statuses, and the modem's +CMS ERROR /
+CME ERROR codes (reference/gsm-modem.md §3) each map to a Verdict: accepted, transient (retry
later with backoff), permanent (fail with the German reason), with `fails_run` where every
further message would fail the same way (credentials, account, SIM PIN).
"""

from __future__ import annotations

from typing import Literal

from flask_babel import lazy_gettext as _l

from webapp.sms.transports.base import OutcomeKind, Verdict

ACCEPTED = OutcomeKind.ACCEPTED
TRANSIENT = OutcomeKind.TRANSIENT
PERMANENT = OutcomeKind.PERMANENT


def _v(kind: OutcomeKind, reason: object, fails_run: bool = False) -> Verdict:
    # A problem of the account, SIM or settings is not the message's fault: it stops the run
    # and the message waits in the queue until the setting is fixed (inside the 7-day window).
    if fails_run and kind is PERMANENT:
        kind = TRANSIENT
    return Verdict(kind=kind, reason=str(reason), fails_run=fails_run)


# --- websms ------------------------------------------------------------------------------------

_WEBSMS: dict[int, tuple[OutcomeKind, object, bool]] = {
    2000: (ACCEPTED, _l("Angenommen und gesendet."), False),
    2001: (ACCEPTED, _l("Angenommen und eingereiht."), False),
    2002: (ACCEPTED, _l("Angenommen (Testmodus)."), False),
    4000: (PERMANENT, _l("websms konnte die Anfrage nicht lesen (fehlerhaftes JSON)."), True),
    4001: (
        PERMANENT,
        _l(
            "websms: Zugangsdaten ungültig oder Konto inaktiv. Bitte API-Benutzer "
            "und Passwort/Token in den Job-Einstellungen prüfen."
        ),
        True,
    ),
    4002: (PERMANENT, _l("websms: ungültige Empfängernummer."), False),
    4003: (
        PERMANENT,
        _l(
            "websms: ungültiger Absender. Bitte die Absenderadresse in den "
            "Job-Einstellungen prüfen."
        ),
        True,
    ),
    4004: (PERMANENT, _l("websms: ungültiger Nachrichtentyp."), True),
    4005: (PERMANENT, _l("websms: ungültiges Zeichensatz-Alphabet."), False),
    4006: (PERMANENT, _l("websms: ungültige Nachrichtenklasse."), False),
    4007: (PERMANENT, _l("websms: ungültige Nachrichtendaten."), False),
    4008: (PERMANENT, _l("websms: ungültige clientMessageId."), False),
    4009: (PERMANENT, _l("websms: ungültiger Nachrichtentext."), False),
    4010: (PERMANENT, _l("websms: ungültige automatische Segmentierung."), False),
    4012: (TRANSIENT, _l("websms: zu viele Nachrichten pro Zeit (Drosselung)."), False),
    4013: (TRANSIENT, _l("websms: Nachrichtenlimit des Kontos erreicht."), True),
    4014: (PERMANENT, _l("websms: Die IP-Adresse dieses Servers ist nicht freigegeben."), True),
    4015: (PERMANENT, _l("websms: ungültige Priorität."), True),
    4016: (PERMANENT, _l("websms: ungültige Rückruf-URL (notificationCallbackUrl)."), True),
    4017: (
        PERMANENT,
        _l("websms: mehrteilige SMS sind für dieses Konto nicht freigeschaltet."),
        False,
    ),
    4018: (PERMANENT, _l("websms: Diese API-Methode ist nicht erlaubt."), True),
    4019: (PERMANENT, _l("websms: Ein Pflichtparameter fehlt."), True),
    4020: (PERMANENT, _l("websms: ungültiger API-Schlüssel."), True),
    4021: (PERMANENT, _l("websms: ungültiges Konto."), True),
    4022: (PERMANENT, _l("websms: Zugriff auf die API verweigert."), True),
    4023: (TRANSIENT, _l("websms: Anfragelimit für diese IP-Adresse überschritten."), False),
    4024: (TRANSIENT, _l("websms: zu viele Anfragen in kurzer Zeit."), False),
    4025: (TRANSIENT, _l("websms: Übertragungsrate überschritten."), False),
    4026: (
        PERMANENT,
        _l("websms: Der Text braucht mehr SMS-Teile als erlaubt (maxSmsPerMessage)."),
        False,
    ),
    4027: (PERMANENT, _l("websms: ungültiges Nachrichtensegment."), False),
    4029: (PERMANENT, _l("websms: Empfänger nicht erlaubt."), False),
    4030: (PERMANENT, _l("websms: Empfänger steht auf der Sperrliste."), False),
    4031: (PERMANENT, _l("websms: Empfänger steht auf der Sperrliste."), False),
    4035: (PERMANENT, _l("websms: Das SMS-Senden ist für dieses Konto deaktiviert."), True),
    4040: (PERMANENT, _l("websms: ungültige Inhaltskategorie."), True),
    4041: (PERMANENT, _l("websms: ungültige Gültigkeitsdauer."), True),
    4042: (PERMANENT, _l("websms: Empfänger wegen Qualitätsbewertung gesperrt."), False),
    4043: (PERMANENT, _l("websms: Empfänger von der Spam-Prüfung gesperrt."), False),
    5000: (TRANSIENT, _l("websms: interner Fehler beim Anbieter."), False),
    5003: (TRANSIENT, _l("websms: Dienst vorübergehend nicht verfügbar."), False),
}


def websms_status(code: int, message: str = "") -> Verdict:
    """The verdict on a websms `statusCode` (2000/2001 accepted)."""
    known = _WEBSMS.get(int(code))
    if known is not None:
        kind, reason, fails_run = known
        detail = f" ({message})" if code == 4019 and message else ""
        return _v(kind, f"{reason}{detail}", fails_run)
    if 5000 <= code < 6000:
        return _v(TRANSIENT, _l("websms: Fehler %(code)d beim Anbieter.", code=code))
    return _v(PERMANENT, _l("websms: unbekannter Statuscode %(code)d.", code=code))


def http_status(status: int) -> Verdict:
    """The verdict on an HTTP status other than 200 (websms answers API errors with 200)."""
    if status in (401, 403):
        return _v(
            PERMANENT,
            _l(
                "websms lehnt die Anmeldung ab (HTTP %(s)d). Bitte Zugangsdaten "
                "in den Job-Einstellungen prüfen.",
                s=status,
            ),
            True,
        )
    if status == 429:
        return _v(TRANSIENT, _l("websms: zu viele Anfragen (HTTP 429)."))
    if status >= 500:
        return _v(TRANSIENT, _l("websms nicht erreichbar oder gestört (HTTP %(s)d).", s=status))
    if status in (404, 405) or 300 <= status < 400:  # a redirect: the URL is not the API's
        return _v(
            PERMANENT,
            _l(
                "websms-Adresse falsch (HTTP %(s)d). Bitte die Basis-URL in den "
                "Job-Einstellungen prüfen.",
                s=status,
            ),
            True,
        )
    return _v(PERMANENT, _l("websms lehnt die Anfrage ab (HTTP %(s)d).", s=status), True)


# --- GSM modem: +CMS ERROR (27.005 §3.2.5) --------------------------------------------------

CMS_TRANSIENT = {
    *(17, 22, 27, 38, 41, 42, 47, 111, 127),  # network causes (24.011 E-2)
    *(192, 255),  # SC busy, unspecified error (23.040 TP-FCS)
    *(300, 301, 314, 320, 331, 332, 500),  # modem, SIM busy, network (27.005 §3.2.5)
    *(512, 513, 514, 515, 535, 615, 616),  # manufacturer-specific
}
CMS_PERMANENT_NUMBER = {1, 8, 10, 21, 28, 29, 30, 50, 69, 193, 195, 196}
CMS_STOP = {  # the SIM or modem needs an operator: every message would fail
    310: _l("Keine SIM-Karte im Modem."),
    311: _l("Das Modem verlangt die SIM-PIN. Bitte die PIN in den Job-Einstellungen eintragen."),
    312: _l("Das Modem verlangt eine PH-SIM-PIN."),
    313: _l("SIM-Karte defekt."),
    315: _l("Falsche SIM-Karte."),
    316: _l("SIM-Karte gesperrt: PUK erforderlich."),
    317: _l("SIM-PIN2 erforderlich."),
    318: _l("SIM-PUK2 erforderlich."),
    322: _l("Der Speicher des Modems ist voll."),
    330: _l("SMS-Zentrale (SMSC) unbekannt: bitte AT+CSCA am Modem setzen."),
}


def cms_error(code: int) -> Verdict:
    """The verdict on `+CMS ERROR: <code>` after a send."""
    if code in CMS_STOP:
        return _v(PERMANENT, CMS_STOP[code], True)
    if code == 197:  # duplicate SM: the centre already has it
        return _v(ACCEPTED, _l("Die SMS-Zentrale hatte diese SMS bereits."))
    if code in CMS_TRANSIENT:
        return _v(TRANSIENT, _l("Netz oder Modem vorübergehend gestört (CMS %(c)d).", c=code))
    if code in CMS_PERMANENT_NUMBER:
        return _v(
            PERMANENT,
            _l(
                "Das Netz lehnt die Nummer ab (CMS %(c)d): unbekannt, gesperrt "
                "oder nicht erreichbar.",
                c=code,
            ),
        )
    return _v(PERMANENT, _l("Das Modem lehnt die SMS ab (CMS %(c)d).", c=code))


# --- GSM modem: +CME ERROR (27.007 §9.2) ----------------------------------------------------

CME_TRANSIENT = {14, 30, 31, 100, 126, 258, 515}
CME_STOP = {
    5: _l("Das Modem verlangt eine PH-SIM-PIN."),
    10: _l("Keine SIM-Karte im Modem."),
    11: _l("Das Modem verlangt die SIM-PIN. Bitte die PIN in den Job-Einstellungen eintragen."),
    12: _l("SIM-Karte gesperrt: PUK erforderlich. Die PIN wird nicht erneut versucht."),
    13: _l("SIM-Karte defekt."),
    15: _l("Falsche SIM-Karte."),
    16: _l(
        "Falsche SIM-PIN. Die PIN wird nicht erneut versucht: bitte in den "
        "Job-Einstellungen prüfen."
    ),
    17: _l("SIM-PIN2 erforderlich."),
    18: _l("SIM-PUK2 erforderlich."),
    20: _l("Der Speicher des Modems ist voll."),
    32: _l("Nur Notrufe möglich: keine Netzberechtigung."),
}


def cme_error(code: int) -> Verdict:
    """The verdict on `+CME ERROR: <code>`."""
    if code in CME_STOP or 40 <= code <= 48:
        return _v(
            PERMANENT, CME_STOP.get(code, _l("Das Modem ist gesperrt (CME %(c)d).", c=code)), True
        )
    if code in CME_TRANSIENT:
        return _v(TRANSIENT, _l("Modem oder Netz vorübergehend nicht bereit (CME %(c)d).", c=code))
    return _v(PERMANENT, _l("Das Modem meldet einen Fehler (CME %(c)d).", c=code))


def network_failure(detail: str) -> Verdict:
    """A connection that failed before anything was sent: retry later."""
    return _v(TRANSIENT, _l("Verbindung fehlgeschlagen: %(d)s", d=detail))


def outcome_unknown(detail: str) -> Verdict:
    """The request may have reached the provider: never resent automatically."""
    return _v(
        OutcomeKind.UNKNOWN, _l("Ergebnis unklar, die SMS kann angekommen sein: %(d)s", d=detail)
    )


# --- GSM modem: verbose error texts (AT+CMEE=2, or modems that ignore AT+CMEE=1) ---------------


def _norm(text: str) -> str:
    """Lower case, "(U)SIM" as "SIM", punctuation and runs of blanks folded to one blank."""
    text = text.lower().replace("(u)sim", "sim").replace("usim", "sim")
    return " ".join("".join(ch if ch.isalnum() or ch == "+" else " " for ch in text).split())


# 27.005 §3.2.5 texts, and the 24.011 E-2 / 23.040 cause names modems print instead of numbers.
_CMS_TEXTS: dict[str, int] = {
    _norm(text): code
    for text, code in [
        ("Unassigned (unallocated) number", 1),
        ("Unassigned number", 1),
        ("Operator determined barring", 8),
        ("Call barred", 10),
        ("Short message transfer rejected", 21),
        ("SM transfer rejected", 21),
        ("Memory capacity exceeded", 22),
        ("Destination out of service", 27),
        ("Destination out of order", 27),
        ("Unidentified subscriber", 28),
        ("Facility rejected", 29),
        ("Unknown subscriber", 30),
        ("Network out of order", 38),
        ("Temporary failure", 41),
        ("Congestion", 42),
        ("Resources unavailable, unspecified", 47),
        ("Resources unavailable", 47),
        ("Requested facility not subscribed", 50),
        ("Requested facility not implemented", 69),
        ("Invalid short message transfer reference value", 81),
        ("Invalid message, unspecified", 95),
        ("Protocol error, unspecified", 111),
        ("Interworking, unspecified", 127),
        ("SC busy", 192),
        ("No SC subscription", 193),
        ("Invalid SME address", 195),
        ("Destination SME barred", 196),
        ("SM rejected-duplicate SM", 197),
        ("ME failure", 300),
        ("SMS service of ME reserved", 301),
        ("Operation not allowed", 302),
        ("Operation not supported", 303),
        ("Invalid PDU mode parameter", 304),
        ("Invalid text mode parameter", 305),
        ("(U)SIM not inserted", 310),
        ("(U)SIM PIN required", 311),
        ("PH-(U)SIM PIN required", 312),
        ("(U)SIM failure", 313),
        ("(U)SIM busy", 314),
        ("(U)SIM wrong", 315),
        ("(U)SIM PUK required", 316),
        ("(U)SIM PIN2 required", 317),
        ("(U)SIM PUK2 required", 318),
        ("Memory failure", 320),
        ("Invalid memory index", 321),
        ("Memory full", 322),
        ("SMSC address unknown", 330),
        ("No network service", 331),
        ("Network timeout", 332),
        ("No +CNMA acknowledgement expected", 340),
        ("Unknown error", 500),
    ]
}

# 27.007 §9.2 texts (and the vendor "busy" texts of code 515).
_CME_TEXTS: dict[str, int] = {
    _norm(text): code
    for text, code in [
        ("phone failure", 0),
        ("no connection to phone", 1),
        ("phone-adaptor link reserved", 2),
        ("operation not allowed", 3),
        ("operation not supported", 4),
        ("PH-SIM PIN required", 5),
        ("PH-FSIM PIN required", 6),
        ("PH-FSIM PUK required", 7),
        ("SIM not inserted", 10),
        ("SIM PIN required", 11),
        ("SIM PUK required", 12),
        ("SIM failure", 13),
        ("SIM busy", 14),
        ("SIM wrong", 15),
        ("incorrect password", 16),
        ("SIM PIN2 required", 17),
        ("SIM PUK2 required", 18),
        ("memory full", 20),
        ("invalid index", 21),
        ("not found", 22),
        ("memory failure", 23),
        ("text string too long", 24),
        ("invalid characters in text string", 25),
        ("dial string too long", 26),
        ("invalid characters in dial string", 27),
        ("no network service", 30),
        ("network timeout", 31),
        ("network not allowed - emergency calls only", 32),
        ("network personalization PIN required", 40),
        ("network personalization PUK required", 41),
        ("network subset personalization PIN required", 42),
        ("network subset personalization PUK required", 43),
        ("service provider personalization PIN required", 44),
        ("service provider personalization PUK required", 45),
        ("corporate personalization PIN required", 46),
        ("corporate personalization PUK required", 47),
        ("unknown", 100),
        ("operation temporary not allowed", 126),
        ("device busy", 515),
        ("please wait, init or command processing in progress", 515),
    ]
}


def cms_error_code(text: str) -> int | None:
    """The number behind a `+CMS ERROR:` text (digits or a known verbose text), else None."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    return _CMS_TEXTS.get(_norm(text))


def cme_error_code(text: str) -> int | None:
    """The number behind a `+CME ERROR:` text (digits or a known verbose text), else None."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    return _CME_TEXTS.get(_norm(text))


def modem_error_text(text: str) -> Verdict:
    """An error the modem reports only as text (unknown verbose error, `ERROR`, `COMMAND NOT
    SUPPORT`): nothing tells whether it lasts, so retry later with the text as the reason."""
    text = text.strip()
    if not text or text.upper() == "ERROR":
        return _v(TRANSIENT, _l("Das Modem meldet ERROR ohne Fehlercode."))
    return _v(TRANSIENT, _l("Das Modem meldet: %(t)s", t=text))


def modem_error(family: Literal["CMS", "CME"] | None, text: str) -> tuple[Verdict, str]:
    """The verdict on an error result of the modem and the code recorded with it ("CMS 38",
    "CME 16", "CMS <verbose text>", "ERROR"). `family` "CMS"/"CME" with `text` what follows
    `+CMS ERROR:` / `+CME ERROR:`; None for a bare result (`ERROR`, `COMMAND NOT SUPPORT`)."""
    if family is None:
        return modem_error_text(text), text.strip()
    number_of, verdict_on = (
        (cms_error_code, cms_error) if family == "CMS" else (cme_error_code, cme_error)
    )
    text = text.strip()
    number = number_of(text)
    if number is None:
        return modem_error_text(text), f"{family} {text}"
    return verdict_on(number), f"{family} {number}"


# --- status reports (TP-Status, 3GPP TS 23.040 §9.2.3.15) ---------------------------------------

_TP_STATUS: dict[int, object] = {
    0x00: _l("zugestellt"),
    0x01: _l("an das Telefon weitergegeben, Empfang nicht bestätigt"),
    0x02: _l("durch eine neuere SMS ersetzt"),
    0x20: _l("Netz überlastet"),
    0x21: _l("Empfänger besetzt"),
    0x22: _l("keine Antwort vom Telefon des Empfängers"),
    0x23: _l("Dienst abgelehnt"),
    0x24: _l("Dienstgüte nicht verfügbar"),
    0x25: _l("Fehler im Telefon des Empfängers"),
    0x40: _l("Fehler im Netz"),
    0x41: _l("Ziel nicht kompatibel"),
    0x42: _l("vom Telefon des Empfängers abgelehnt"),
    0x43: _l("Empfänger nicht erreichbar"),
    0x44: _l("Dienstgüte nicht verfügbar"),
    0x45: _l("kein Übergang in das Netz des Empfängers"),
    0x46: _l("Gültigkeitsdauer abgelaufen"),
    0x47: _l("vom Absender gelöscht"),
    0x48: _l("von der SMS-Zentrale gelöscht"),
    0x49: _l("die SMS gibt es nicht"),
}


def status_report_text(tp_status: int) -> str:
    """What the TP-Status of a status report says, in German words ("kein Übergang in das
    Netz des Empfängers"); 0x60-0x65 are 0x20-0x25 after which the centre gave up."""
    known = _TP_STATUS.get(tp_status)
    if known is not None:
        return str(known)
    if 0x60 <= tp_status <= 0x65:
        return str(_l("%(t)s, keine weiteren Versuche", t=str(_TP_STATUS[tp_status - 0x40])))
    if tp_status <= 0x1F:
        return str(_l("abgeschlossen (Code der SMS-Zentrale)"))
    if tp_status <= 0x3F:
        return str(_l("vorübergehender Fehler, die SMS-Zentrale versucht es weiter"))
    if tp_status <= 0x5F:
        return str(_l("dauerhafter Fehler"))
    if tp_status <= 0x7F:
        return str(_l("vorübergehender Fehler, keine weiteren Versuche"))
    return str(_l("unbekannter Status"))
