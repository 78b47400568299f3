"""Verbindung testen (tab Einstellungen): the stored Einstellungen, live."""

from __future__ import annotations

import dataclasses

from flask_babel import gettext as _

from webapp.jobs.settings import job_settings
from webapp.models import Job
from webapp.sms.transports.base import OutgoingSms, TransportUnavailable
from webapp.sms.transports.modem import ModemSettings, ModemStatus, ModemTransport
from webapp.sms.transports.websms import WebsmsSettings, WebsmsTransport

# The connection test sends to a number of the range Ofcom reserves for drama (never assigned),
# with websms's test flag: websms checks the login and the request but sends nothing.
TEST_RECIPIENT = "+447700900000"


def test_connection(job: Job, secret_key: str) -> tuple[bool, str]:
    """Check the stored Einstellungen live; (worked, German answer to show).

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
        return True, _(
            "Verbindung in Ordnung: websms hat die Anmeldung und eine Test-Anfrage angenommen "
            "(%(code)s). Im Testmodus wurde keine SMS versendet.",
            code=outcome.code or "",
        )
    detail = f" ({outcome.code})" if outcome.code else ""
    return False, f"{outcome.reason or _('websms hat die Anfrage abgelehnt.')}{detail}"


def _test_modem(settings: ModemSettings) -> tuple[bool, str]:
    transport = None
    try:
        transport = ModemTransport(settings)
        status = transport.status()
    except TransportUnavailable as error:
        return False, error.reason
    except Exception as error:  # serial/socket errors the transport did not translate
        return False, _("Das Modem antwortet nicht: %(error)s", error=str(error) or repr(error))
    finally:
        if transport is not None:
            transport.close()
    return _modem_answer(status)


def _modem_answer(status: ModemStatus) -> tuple[bool, str]:
    """The answer to show for a ModemStatus: fine when the modem is registered in a network."""
    dbm = f" ({status.dbm} dBm)" if status.dbm is not None else ""
    if status.registered:
        return True, _(
            "Verbindung in Ordnung: Das Modem antwortet, die SIM-Karte ist bereit, Signal "
            "%(signal)s%(dbm)s, %(network)s.",
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
