"""Verbindung testen (tab Einstellungen): the stored Einstellungen, live."""

from __future__ import annotations

import dataclasses

from flask_babel import gettext as _

from webapp.jobs.settings import job_settings
from webapp.models import Job
from webapp.sms.transports import classify
from webapp.sms.transports.base import OutgoingSms, TransportUnavailable
from webapp.sms.transports.modem import ModemSettings, ModemStatus, ModemTransport
from webapp.sms.transports.websms import WebsmsSettings, WebsmsTransport
from webapp.technical import explain_error, with_details

# The connection test sends to a number of the range Ofcom reserves for drama (never assigned),
# with websms's test flag: websms checks the login and the request but sends nothing.
TEST_RECIPIENT = "+447700900000"


def test_connection(job: Job, secret_key: str) -> tuple[bool, str]:
    """Check the stored Einstellungen live; (worked, German answer to show, perhaps with
    technical details: webapp.technical). The page puts "Verbindung in Ordnung" or
    "Verbindung fehlgeschlagen" before it.

    Modem: open the port, AT, SIM, signal, registration (`ModemTransport.status()`).
    websms: one authenticated request with websms's test flag: nothing is sent.
    """
    try:
        settings = job_settings(job, secret_key)
    except TransportUnavailable as error:
        return False, error.reason
    if isinstance(settings, ModemSettings):
        return _test_modem(settings)
    return _test_websms(settings)


def _test_websms(settings: WebsmsSettings) -> tuple[bool, str]:
    problem = settings.problem()
    if problem:
        return False, problem
    settings = dataclasses.replace(
        settings,
        test_mode=True,
        concurrency=1,
        read_timeout=min(float(settings.read_timeout), 15.0),
        connect_timeout=min(float(settings.connect_timeout), 5.0),
    )
    transport = WebsmsTransport(settings)
    try:
        outcome = transport.send(
            OutgoingSms(message_id=0, recipient=TEST_RECIPIENT, text="Verbindungstest SMS-Modul")
        )
    except TransportUnavailable as error:
        return False, error.reason
    finally:
        transport.close()
    if outcome.ok:
        answer = _(
            "websms hat die Anmeldung und eine Test-Anfrage angenommen. "
            "Im Testmodus wurde keine SMS versendet."
        )
        return True, with_details(answer, outcome.code)
    reason = outcome.reason or _("websms hat die Anfrage abgelehnt.")
    # The page says "Verbindung fehlgeschlagen" already: not twice in a row.
    said = classify.network_failure("").reason
    if reason.startswith(said):
        reason = reason.removeprefix(said)
    return False, with_details(reason, outcome.code)


def _test_modem(settings: ModemSettings) -> tuple[bool, str]:
    transport = None
    try:
        transport = ModemTransport(settings)
        status = transport.status()
    except TransportUnavailable as error:
        return False, error.reason
    except Exception as error:  # serial/socket errors the transport did not translate
        return False, explain_error(error, _("Das Modem antwortet nicht."))
    finally:
        if transport is not None:
            transport.close()
    return _modem_answer(status)


def _modem_answer(status: ModemStatus) -> tuple[bool, str]:
    """The answer to show for a ModemStatus: fine when the modem is registered in a network."""
    dbm = f" ({status.dbm} dBm)" if status.dbm is not None else ""
    if status.registered:
        return True, _(
            "Das Modem antwortet, die SIM-Karte ist bereit, Signal %(signal)s%(dbm)s, %(network)s.",
            signal=status.signal,
            dbm=dbm,
            network=status.registration_text,
        )
    return False, _(
        "Das Modem antwortet und die SIM-Karte ist bereit, aber es ist nicht im Netz: "
        "%(network)s (Signal %(signal)s%(dbm)s). Bitte Antenne und SIM-Karte prüfen.",
        network=status.registration_text,
        signal=status.signal,
        dbm=dbm,
    )
