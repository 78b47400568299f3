"""The tab "Einstellungen": what it submits, its rules, and saving (webapp.jobs.settings holds
the stored form and reads it)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from webapp.errors import ErrorCollector, InputError
from webapp.jobs.inputs import bounded_int
from webapp.jobs.secrets import SecretsUnreadable, decrypt_secrets, encrypt_secrets
from webapp.jobs.settings import (
    BAUD_RATES,
    DEFAULT_WEBSMS_URL,
    SECRET_IN_URL,
    SECRET_NAMES,
    WEBHOOK_SECRET,
    JobSettings,
    ModemSection,
    Variant,
    WebsmsAuth,
    WebsmsSection,
    callback_url,
    channel_settings,
    first_channel,
    new_webhook_secret,
    write_settings,
)
from webapp.models import Channel, Job
from webapp.sms.transports.modem import forget_rejected_pin
from webapp.sms.transports.websms import SENDER_ADDRESS_TYPES, InvalidSender, normalise_sender
from webapp.validation import clean_email, text_field

MAX_SIGNATURE = 100


@dataclass
class SettingsInput:
    """What the tab "Einstellungen" submits, as typed (the form's fields by name). Secrets:
    empty keeps the stored one, `*_clear` removes it. Defaults: those of JobSettings."""

    variant: str
    modem_url: str = ""
    modem_baudrate: str = str(ModemSection.baudrate)
    modem_pin: str = ""
    modem_pin_clear: bool = False
    modem_cmgs_timeout: str = str(ModemSection.cmgs_timeout)
    modem_receive: bool = False
    websms_base_url: str = DEFAULT_WEBSMS_URL
    websms_auth: str = WebsmsAuth.TOKEN.value
    websms_username: str = ""
    websms_password: str = ""
    websms_password_clear: bool = False
    websms_access_token: str = ""
    websms_access_token_clear: bool = False
    websms_sender_address: str = ""
    websms_sender_address_type: str = ""
    websms_signature: str = ""
    websms_test_mode: bool = False
    websms_max_sms_per_message: str = str(WebsmsSection.max_sms_per_message)
    websms_callback_url: str = ""
    websms_inbound_email: str = ""

    def clears(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_clear", False))


def settings_input(job: Job, secret_key: str, channel: Channel | None = None) -> SettingsInput:
    """The stored Einstellungen as the tab's form shows them (secrets are never shown): the
    job-wide fields and `channel` (default: the first)."""
    stored = channel_settings(job, channel or first_channel(job))
    modem, websms = stored.modem, stored.websms
    return SettingsInput(
        variant=str(stored.variant.value),
        modem_url=modem.url,
        modem_baudrate=str(modem.baudrate),
        modem_cmgs_timeout=str(modem.cmgs_timeout),
        modem_receive=modem.receive,
        websms_base_url=websms.base_url,
        websms_auth=websms.auth.value,
        websms_username=websms.username,
        websms_sender_address=websms.sender_address,
        websms_sender_address_type=websms.sender_address_type,
        websms_signature=websms.signature,
        websms_test_mode=websms.test_mode,
        websms_max_sms_per_message=str(websms.max_sms_per_message),
        websms_callback_url=callback_url(job, secret_key),
        websms_inbound_email=websms.inbound_email,
    )


def _modem_url(raw: str, required: bool) -> str:
    text = (raw or "").strip()
    message = _(
        "Bitte die Adresse des Modems eingeben: socket://host:port oder rfc2217://host:port "
        "(Moxa NPort) oder eine serielle Schnittstelle wie /dev/ttyUSB0 bzw. COM3."
    )
    if not text:
        if required:
            raise InputError(message, "modem_url")
        return ""
    if len(text) > 200:
        raise InputError(message, "modem_url")
    if "://" in text:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("socket", "rfc2217") or not parts.hostname or not port:
            raise InputError(message, "modem_url")
        return text
    if re.fullmatch(r"/dev/[\w./-]+", text) or re.fullmatch(r"(?i)com\d{1,3}", text):
        return text
    raise InputError(message, "modem_url")


def _http_url(raw: str, field_name: str, required: bool, example: str) -> str:
    text = (raw or "").strip()
    message = _("Bitte eine http(s)-Adresse eingeben, z. B. %(example)s.", example=example)
    if not text:
        if required:
            raise InputError(message, field_name)
        return ""
    parts = urlsplit(text)
    if len(text) > 500 or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(message, field_name)
    return text


def _sender(address: str, kind: str) -> tuple[str, str]:
    """Sender and its type as websms takes them (the transport's rule, normalised)."""
    address = (address or "").strip()
    kind = (kind or "").strip()
    if kind and kind not in SENDER_ADDRESS_TYPES:
        raise InputError(
            _("Bitte einen Absendertyp aus der Liste wählen."), "websms_sender_address_type"
        )
    if not address:
        return "", kind
    try:
        return normalise_sender(address, kind), kind
    except InvalidSender as error:
        raise InputError(error.reason, "websms_sender_address") from None


def _pin(raw: str) -> str:
    text = (raw or "").strip()
    if text and not re.fullmatch(r"\d{4,8}", text):
        raise InputError(_("Die SIM-PIN besteht aus 4 bis 8 Ziffern."), "modem_pin")
    return text


def _secret_text(raw: str, field_name: str) -> str:
    text = (raw or "").strip()
    if len(text) > 500:
        raise InputError(_("Bitte höchstens %(n)d Zeichen eingeben.", n=500), field_name)
    return text


def _baudrate(raw: str) -> int:
    message = _("Bitte eine Baudrate aus der Liste wählen.")
    value = bounded_int(raw, "modem_baudrate", min(BAUD_RATES), max(BAUD_RATES), message)
    if value not in BAUD_RATES:
        raise InputError(message, "modem_baudrate")
    return value


def save_settings(
    session: Session,
    job: Job,
    data: SettingsInput,
    changed_by: str,
    secret_key: str,
    channel: Channel | None = None,
) -> Job:
    """Store the Einstellungen; secrets encrypted, the others as JSON. An InputError with every
    problem on bad input.

    Both sections (COM Einstellungen, WEB SMS) are checked and kept; what the chosen Variante
    needs to send must be complete. Without `channel`: the tab's main form, the job-wide
    fields and the first channel (created with the first save). With `channel`: that
    channel's form; the job-wide fields of `data` are ignored (kept as stored).
    """
    target = channel or first_channel(job)
    job_wide = channel is None
    problems = ErrorCollector()
    variant = problems.run(
        bounded_int,
        data.variant,
        "variant",
        Variant.MODEM,
        Variant.WEBSMS,
        _("Bitte eine Variante wählen: 1 (GSM-Modem) oder 2 (SMS-Web)."),
    )
    old = channel_settings(job, target)
    if not job_wide:  # the channel's form has no job-wide fields: keep them
        data = dataclasses.replace(
            data,
            websms_signature=old.websms.signature,
            websms_callback_url=callback_url(job, secret_key),
            websms_inbound_email=old.websms.inbound_email,
        )
    # Secrets: the new values, the stored ones kept, cleared ones removed.
    entered = {
        "modem_pin": problems.run(_pin, data.modem_pin) or "",
        "websms_password": problems.run(_secret_text, data.websms_password, "websms_password")
        or "",
        "websms_access_token": problems.run(
            _secret_text, data.websms_access_token, "websms_access_token"
        )
        or "",
    }
    present = {
        n for n in SECRET_NAMES if entered[n] or (n in old.stored_secrets and not data.clears(n))
    }
    modem = _modem_section(data, variant, problems)
    websms = _websms_section(data, variant, present, problems)
    problems.raise_if_any()

    target = target or Channel(secrets="")  # saved below as the first channel
    stored, hook = _store_secrets(job, target, data, entered, secret_key)
    pin_changed = bool(entered["modem_pin"]) or data.clears("modem_pin")
    if pin_changed:
        forget_rejected_pin(modem.url)  # the modem transport never repeats a refused PIN
    if hook and websms.notification_callback_url:
        callback = websms.notification_callback_url.replace(hook, SECRET_IN_URL)
        websms = dataclasses.replace(websms, notification_callback_url=callback)
    # Only a new PIN may be tried again.
    modem = dataclasses.replace(modem, pin_rejected=old.modem.pin_rejected and not pin_changed)
    stored_secrets = tuple(present if stored is None else stored)
    settings = JobSettings(Variant(variant), modem, websms, stored_secrets)
    if target not in job.channels:
        job.channels.append(target)
        target.position, target.rank = 1, 1
    write_settings(job, settings, target, job_wide)
    job.updated_by = changed_by
    session.flush()
    return job


def _modem_section(
    data: SettingsInput, variant: int | None, problems: ErrorCollector
) -> ModemSection:
    """COM Einstellungen as entered; the problems are collected (the section counts without)."""
    defaults = ModemSection()
    return ModemSection(
        url=problems.run(_modem_url, data.modem_url, variant == Variant.MODEM) or "",
        baudrate=problems.run(_baudrate, data.modem_baudrate) or defaults.baudrate,
        cmgs_timeout=problems.run(
            bounded_int,
            data.modem_cmgs_timeout,
            "modem_cmgs_timeout",
            5,
            600,
            _("Bitte eine Zeit zwischen 5 und 600 Sekunden eingeben."),
        )
        or defaults.cmgs_timeout,
        receive=bool(data.modem_receive),
    )


def _websms_section(
    data: SettingsInput, variant: int | None, present: set[str], problems: ErrorCollector
) -> WebsmsSection:
    """WEB SMS as entered, and whether Variante 2 can log in with it (`present`: the secrets
    set after saving); the problems are collected (the section counts without)."""
    auth = data.websms_auth if data.websms_auth in tuple(WebsmsAuth) else None
    if auth is None:
        problems.add(_("Bitte die Art der Anmeldung wählen."), "websms_auth")
    sender = problems.run(_sender, data.websms_sender_address, data.websms_sender_address_type)
    base_url = problems.run(
        _http_url,
        data.websms_base_url,
        "websms_base_url",
        variant == Variant.WEBSMS,
        DEFAULT_WEBSMS_URL,
    )
    username = problems.run(text_field, data.websms_username, "websms_username", 254) or ""
    signature = problems.run(text_field, data.websms_signature, "websms_signature", MAX_SIGNATURE)
    max_sms = problems.run(
        bounded_int,
        (data.websms_max_sms_per_message or "").strip() or "0",
        "websms_max_sms_per_message",
        0,
        255,
        _("Bitte eine Zahl zwischen 0 (keine Grenze) und 255 eingeben."),
    )
    callback = problems.run(
        _http_url,
        data.websms_callback_url,
        "websms_callback_url",
        False,
        "https://websms:…@sms.firma.at/webhooks/websms",
    )
    inbound = problems.run(clean_email, data.websms_inbound_email, "websms_inbound_email")
    token_missing = "websms_access_token" not in present
    if variant == Variant.WEBSMS and auth == WebsmsAuth.TOKEN and token_missing:
        problems.add(
            _("Bitte das Zugangstoken eingeben (im websms-Kundenportal unter API erstellt)."),
            "websms_access_token",
        )
    if variant == Variant.WEBSMS and auth == WebsmsAuth.PASSWORD:
        if not username:
            problems.add(_("Bitte den API-Benutzer eingeben."), "websms_username")
        if "websms_password" not in present:
            problems.add(_("Bitte das API-Passwort eingeben."), "websms_password")
    return WebsmsSection(
        base_url=base_url or "",
        auth=WebsmsAuth(auth or WebsmsAuth.TOKEN),
        username=username,
        sender_address=sender[0] if sender else "",
        sender_address_type=sender[1] if sender else "",
        signature=signature or "",
        test_mode=bool(data.websms_test_mode),
        max_sms_per_message=max_sms if max_sms is not None else 0,
        notification_callback_url=callback or "",
        inbound_email=inbound or "",
    )


def _store_secrets(
    job: Job, channel: Channel, data: SettingsInput, entered: dict[str, str], secret_key: str
) -> tuple[set[str] | None, str]:
    """Encrypt the channel's entered secrets with the stored ones kept and the cleared ones
    removed (into `channel.secrets`), and the job's webhook secret (generated with the first
    Einstellungen, into `job.secrets`). Returns the names now set for the channel (None when
    nothing had to be stored) and the webhook secret."""
    try:
        hook, hook_readable = decrypt_secrets(job.secrets, secret_key).get(WEBHOOK_SECRET, ""), True
    except SecretsUnreadable:
        hook, hook_readable = "", False  # unreadable with this key: a new one replaces it
    if not hook:
        hook = new_webhook_secret()
        job.secrets = encrypt_secrets({WEBHOOK_SECRET: hook}, secret_key)
    elif hook_readable and job.secrets and _holds_more(job.secrets, secret_key):
        # Channel 1's secrets of before channels (migration 0018 copied the token): keep only
        # the webhook secret here, the channel has its own.
        job.secrets = encrypt_secrets({WEBHOOK_SECRET: hook}, secret_key)
    try:
        current = decrypt_secrets(channel.secrets, secret_key) if channel.secrets else {}
    except SecretsUnreadable:
        current = {}  # unreadable with this key: what is entered replaces them
    changed = any(entered.values()) or any(data.clears(n) for n in SECRET_NAMES)
    if not changed:
        return None, hook
    values = {n: entered[n] or ("" if data.clears(n) else current.get(n, "")) for n in SECRET_NAMES}
    channel.secrets = encrypt_secrets({n: v for n, v in values.items() if v}, secret_key)
    return {n for n, v in values.items() if v}, hook


def _holds_more(token: str, secret_key: str) -> bool:
    return any(name != WEBHOOK_SECRET for name in decrypt_secrets(token, secret_key))
