"""Global variables ("Globale Variablen", SPEC R60–R63): one accessor, one validator."""

from __future__ import annotations

import enum

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from webapp.errors import InputError, ServiceOff
from webapp.models import GlobalVariable, GlobalVariableType
from webapp.models.base import utcnow
from webapp.validation import clean_email


class GlobalNumber(enum.IntEnum):
    SMS_SERVICE_AVAILABLE = 1400  # GLOBAL_SMS_SERVICE_VORHANDEN
    SMS_ERROR_EMAIL = 1401  # GLOBAL_SMS_SERVICE_FEHLERBENACHRICHTIGUNG
    SMS_FIXED_TEXT = 1402  # GLOBAL_SMS_FIXTEXT_AM_ENDE
    ORDER_SMS_TO_INSPECTOR = 1539  # GLOBAL_AUFTRAG_SMS_AN_KONTROLLEUR
    ORDER_NOTIFY_RESIDENT = 1580  # GLOBAL_AUFTRAG_BN_VERSTAENDIGEN
    ORDER_NOTIFY_RESIDENT_BY_SMS = 1581  # GLOBAL_AUFTRAG_BN_VERSTAENDIGEN_PER_SMS
    TICKET_SMS_TO_RESIDENT = 2890  # GLOBAL_TICKET_SMSANBN_ERSTELLUNG


# Longest value a text global may hold (the fixed text ends every SMS: keep it short).
MAX_TEXT_LENGTH = 500


def get_global(session: Session, number: int) -> str:
    """The value of global `number` (its default when the value is empty)."""
    variable = session.get(GlobalVariable, int(number))
    if variable is None:
        raise KeyError(f"global variable {number} does not exist")
    return variable.value if variable.value != "" else variable.default_value


def get_flag(session: Session, number: int) -> bool:
    """A 0/1 global as a bool."""
    return get_global(session, number).strip() == "1"


def sms_service_refusal(session: Session) -> str | None:
    """Why the SMS service is not available, or None when global 1400 is on."""
    if get_flag(session, GlobalNumber.SMS_SERVICE_AVAILABLE):
        return None
    return _(
        "Der SMS-Service ist nicht freigeschaltet (globale Variable 1400 "
        "GLOBAL_SMS_SERVICE_VORHANDEN steht auf 0)."
    )


def require_sms_service(session: Session) -> None:
    """Raise ServiceOff when global 1400 is off: the one check every way of queueing passes
    (dialogs, API, modules), so none can forget it."""
    refusal = sms_service_refusal(session)
    if refusal is not None:
        raise ServiceOff(refusal)


def clean_global_value(value_type: GlobalVariableType, raw: str) -> str:
    """Validate and normalise a value for a global of `value_type`; raise InputError."""
    value = (raw or "").strip()
    if value_type is GlobalVariableType.FLAG:
        if value not in {"0", "1"}:
            raise InputError(_("Bitte 0 (aus) oder 1 (ein) eingeben."), "value")
        return value
    if value_type is GlobalVariableType.EMAIL:
        return clean_email(value, "value")
    if len(raw or "") > MAX_TEXT_LENGTH:
        raise InputError(
            _("Der Text darf höchstens %(n)d Zeichen lang sein.", n=MAX_TEXT_LENGTH), "value"
        )
    # Free text keeps its inner spacing; only line-break style is normalised.
    return (raw or "").replace("\r\n", "\n").rstrip()


def set_global(session: Session, number: int, raw: str, changed_by: str) -> GlobalVariable:
    """Validate `raw` for global `number` and store it; nothing changes when it is invalid."""
    variable = session.get(GlobalVariable, int(number))
    if variable is None:
        raise InputError(_("Die globale Variable %(n)s gibt es nicht.", n=number))
    variable.value = clean_global_value(variable.value_type, raw)
    variable.updated_at = utcnow()
    variable.updated_by = changed_by
    session.flush()
    return variable
