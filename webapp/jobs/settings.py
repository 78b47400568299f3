"""Einstellungen of a job, typed: the one place that reads and writes `job.settings` and the
settings of its channels (webapp.models.channels.Channel).

A job sends through an ordered list of channels (README "Kanäle"); each channel stores the
section of its kind as JSON (`channel.settings`):

    {"modem":  {"url", "baudrate", "cmgs_timeout", "receive", "pin_rejected" (only when set)},
     "websms": {"base_url", "auth" ("token" | "password"), "username", "sender_address",
                "sender_address_type", "test_mode", "max_sms_per_message"},
     "stored_secrets": [names of the secrets that are set]}

and its secrets (SECRET_NAMES) as one Fernet token in `channel.secrets`. What is the job's
whatever the channel (the fields JOB_WIDE of the websms section: signature, delivery-report
URL, forwarding address) is stored in `job.settings` as {"websms": {…}}, the generated
WEBHOOK_SECRET of the websms webhooks in `job.secrets` (webapp.jobs.secrets).

`channel_settings(job, channel)` gives one channel's settings with the job-wide fields as a
`JobSettings`; `read_settings(job)` those of the first channel (one channel is the job as it
was before channels: the tab's main form edits it). `transport_settings()` turns them and the
secrets into the transport's settings object. The SMS core (dispatch, outbox, inbound) reads a
job's settings only through this module; the tab Einstellungen saves them
(webapp.jobs.settings_tab).
"""

from __future__ import annotations

import dataclasses
import enum
import hmac
from dataclasses import dataclass, field
from secrets import token_urlsafe
from typing import Any, TypeVar

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.jobs.registry import service_job, service_jobs
from webapp.jobs.secrets import SecretsUnreadable, decrypt_secrets, encrypt_secrets
from webapp.models import Channel, Job
from webapp.models.channels import MODEM, WEBSMS
from webapp.sms.transports.base import TransportUnavailable
from webapp.sms.transports.modem import ModemSettings
from webapp.sms.transports.websms import WebsmsSettings


class Variant(enum.IntEnum):
    """Variante: how the job sends."""

    MODEM = 1  # GSM modem with a SIM card (COM Einstellungen)
    WEBSMS = 2  # websms.com (WEB SMS)

    @property
    def label(self) -> str:
        """As shown in the dialog (German, translated)."""
        return {
            Variant.MODEM: _("1 – GSM-Modem"),
            Variant.WEBSMS: _("2 – SMS-Web (websms)"),
        }[self]


class WebsmsAuth(enum.StrEnum):
    """How the job logs in at websms."""

    TOKEN = "token"  # access token (Bearer)
    PASSWORD = "password"  # API user and password (Basic)

    @property
    def label(self) -> str:
        """As shown in the dialog (German, translated)."""
        return {
            WebsmsAuth.TOKEN: _("Zugangstoken"),
            WebsmsAuth.PASSWORD: _("API-Benutzer und Passwort"),
        }[self]


BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
DEFAULT_WEBSMS_URL = "https://api.websms.com"
SECRET_NAMES = ("modem_pin", "websms_password", "websms_access_token")
# The secret of the websms webhooks (webapp.blueprints.webhooks), kept encrypted with the secrets
# above but never entered: generated with the first Einstellungen, replaced by "neu erzeugen".
WEBHOOK_SECRET = "webhook_secret"
# The delivery-report URL is stored with this in place of the webhook secret and filled in when
# it is used: the secret is never stored in plain text, and a new one applies at once.
SECRET_IN_URL = "{webhook_secret}"
# The fields of the websms section that are the job's, not a channel's.
JOB_WIDE = ("signature", "notification_callback_url", "inbound_email")


@dataclass(frozen=True)
class ModemSection:
    """COM Einstellungen (Variante 1)."""

    url: str = ""  # socket://host:port, rfc2217://host:port, /dev/ttyUSB0, COM3
    baudrate: int = 115200
    cmgs_timeout: int = 60  # seconds
    receive: bool = False  # each run also reads the SMS the modem received
    # The SIM refused the PIN: it is not sent again (the SIM would lock) until a new one is saved.
    pin_rejected: bool = False


@dataclass(frozen=True)
class WebsmsSection:
    """WEB SMS (Variante 2)."""

    base_url: str = DEFAULT_WEBSMS_URL
    auth: WebsmsAuth = WebsmsAuth.TOKEN
    username: str = ""
    sender_address: str = ""  # as websms takes it (normalised when saved)
    sender_address_type: str = ""  # "" (automatic) or one of websms's SENDER_ADDRESS_TYPES
    signature: str = ""  # appended to every SMS when it is queued
    test_mode: bool = False
    max_sms_per_message: int = 10  # 0: no limit
    notification_callback_url: str = ""  # SECRET_IN_URL in place of the webhook secret
    inbound_email: str = ""  # received SMS are forwarded there


@dataclass(frozen=True)
class JobSettings:
    """A job's Einstellungen as stored; the defaults stand for what is not stored yet."""

    variant: Variant = Variant.WEBSMS
    modem: ModemSection = field(default_factory=ModemSection)
    websms: WebsmsSection = field(default_factory=WebsmsSection)
    stored_secrets: tuple[str, ...] = ()  # names of the secrets that are set (never the values)

    def as_json(self) -> dict[str, Any]:
        """What `job.settings` stores (plain JSON types; `pin_rejected` only when set)."""
        modem = dataclasses.asdict(self.modem)
        if not modem["pin_rejected"]:
            del modem["pin_rejected"]  # stored only once the SIM refused a PIN
        websms = {**dataclasses.asdict(self.websms), "auth": self.websms.auth.value}
        return {
            "variant": self.variant.value,
            "modem": modem,
            "websms": websms,
            "stored_secrets": sorted(self.stored_secrets),
        }


Section = TypeVar("Section", ModemSection, WebsmsSection)


def _section(defaults: Section, raw: Any) -> Section:
    """`defaults` with the values of a stored dict, each as the type of its default (kept
    when a value is missing or not one); unknown keys are left out."""
    stored = raw if isinstance(raw, dict) else {}
    values: dict[str, Any] = {}
    for item in dataclasses.fields(defaults):
        value = stored.get(item.name)
        if value is None:
            continue
        try:
            values[item.name] = type(getattr(defaults, item.name))(value)
        except (TypeError, ValueError):
            continue
    return dataclasses.replace(defaults, **values)


def variant_of(channel: Channel) -> Variant:
    """The Variante of a channel's kind."""
    return Variant.MODEM if channel.kind == MODEM else Variant.WEBSMS


def kind_of(variant: Variant) -> str:
    """The channel kind of a Variante."""
    return MODEM if variant is Variant.MODEM else WEBSMS


def first_channel(job: Job) -> Channel | None:
    """The job's first channel (the one the tab's main form edits), None before the first save."""
    return job.channels[0] if job.channels else None


def channel_settings(job: Job, channel: Channel | None) -> JobSettings:
    """The settings of `channel` with the job-wide fields, defaults for what is not stored.

    Without a channel: the job's defaults (a job never configured).
    """
    raw = job.settings if isinstance(job.settings, dict) else {}
    job_wide = _dict(raw.get("websms"))
    own = _dict(channel.settings) if channel is not None else {}
    own_websms = _dict(own.get("websms"))
    websms = {**own_websms, **{k: v for k, v in job_wide.items() if k in JOB_WIDE}}
    return JobSettings(
        variant=variant_of(channel) if channel is not None else Variant.WEBSMS,
        modem=_section(ModemSection(), own.get("modem")),
        websms=_section(WebsmsSection(), websms),
        stored_secrets=tuple(n for n in own.get("stored_secrets") or [] if n in SECRET_NAMES),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_settings(job: Job) -> JobSettings:
    """The job's Einstellungen: its first channel and the job-wide fields, with defaults."""
    return channel_settings(job, first_channel(job))


def add_channel(job: Job, variant: Variant) -> Channel:
    """A new channel at the end of the job's list (its own rank: used when those before fail)."""
    last = job.channels[-1] if job.channels else None
    channel = Channel(
        kind=kind_of(variant),
        position=(last.position + 1) if last is not None else 1,
        rank=(last.rank + 1) if last is not None else 1,
        settings={},
        secrets="",
    )
    job.channels.append(channel)
    return channel


def write_settings(
    job: Job, settings: JobSettings, channel: Channel | None = None, job_wide: bool = True
) -> Channel:
    """Store `settings` as the settings of `channel` (default: the first one, created when
    there is none) and, with `job_wide`, its job-wide fields as the job's. The secrets are
    kept apart. Returns the channel."""
    target = channel or first_channel(job) or add_channel(job, settings.variant)
    stored = settings.as_json()
    websms = stored["websms"]
    if job_wide:
        job.settings = {"websms": {name: websms[name] for name in JOB_WIDE}}
    target.kind = kind_of(settings.variant)
    target.settings = {
        "modem": stored["modem"],
        "websms": {k: v for k, v in websms.items() if k not in JOB_WIDE},
        "stored_secrets": stored["stored_secrets"],
    }
    return target


def mark_pin_rejected(job: Job, channel: Channel | None = None) -> None:
    """Store that the SIM of `channel` (default: the first) refused the PIN (only a new PIN in
    the Einstellungen clears it)."""
    target = channel or first_channel(job)
    if target is None:
        return
    raw = dict(target.settings) if isinstance(target.settings, dict) else {}
    raw["modem"] = {**(raw.get("modem") or {}), "pin_rejected": True}
    target.settings = raw


def channel_secrets(channel: Channel | None, secret_key: str) -> dict[str, str]:
    """The decrypted secrets of a channel (SECRET_NAMES only). Raises SecretsUnreadable."""
    if channel is None or not channel.secrets:
        return {}
    values = decrypt_secrets(channel.secrets, secret_key)
    return {name: values[name] for name in SECRET_NAMES if values.get(name)}


def job_settings(job: Job, secret_key: str) -> ModemSettings | WebsmsSettings:
    """The transport settings of the job's first channel (see `transport_settings`)."""
    return transport_settings(job, first_channel(job), secret_key)


def transport_settings(
    job: Job, channel: Channel | None, secret_key: str
) -> ModemSettings | WebsmsSettings:
    """The transport settings of a channel: WebsmsSettings (Variante 2) or ModemSettings (1).

    Raises TransportUnavailable (German reason) when the stored secrets cannot be decrypted
    or Variante 1 has no modem address.
    """
    stored = channel_settings(job, channel)
    callback_url = stored.websms.notification_callback_url
    try:
        secrets = channel_secrets(channel, secret_key) if stored.stored_secrets else {}
        if SECRET_IN_URL in callback_url:
            secrets[WEBHOOK_SECRET] = webhook_secret(job, secret_key, strict=True)
    except SecretsUnreadable as error:
        raise TransportUnavailable(error.reason) from None
    if stored.variant is Variant.MODEM:
        modem = stored.modem
        if not modem.url:
            raise TransportUnavailable(
                _(
                    "Modem: Keine Modem-Adresse eingestellt. Bitte in den Job-Einstellungen "
                    "unter „COM Einstellungen“ eintragen."
                )
            )
        return ModemSettings(
            url=modem.url,
            baudrate=modem.baudrate,
            pin=secrets.get("modem_pin") or None,
            cmgs_timeout=float(modem.cmgs_timeout),
        )
    websms = stored.websms
    token_auth = websms.auth is WebsmsAuth.TOKEN
    return WebsmsSettings(
        base_url=websms.base_url or DEFAULT_WEBSMS_URL,
        access_token=(secrets.get("websms_access_token") or None) if token_auth else None,
        username=None if token_auth else (websms.username or None),
        password=None if token_auth else (secrets.get("websms_password") or None),
        sender_address=websms.sender_address or None,
        sender_address_type=websms.sender_address_type or None,
        test_mode=websms.test_mode,
        max_sms_per_message=websms.max_sms_per_message,
        notification_callback_url=_with_webhook_secret(
            callback_url, secrets.get(WEBHOOK_SECRET, "")
        )
        or None,
        signature=websms.signature,
    )


def signature(job: Job) -> str:
    """The signature appended to every SMS when the job sends through websms (Variante 2) on
    any enabled channel ('' with modems only: an SMS is queued before its channel is known)."""
    stored = read_settings(job)
    if job.channels:
        websms = any(c.enabled and c.kind == WEBSMS for c in job.channels)
    else:
        websms = stored.variant is Variant.WEBSMS
    return stored.websms.signature if websms else ""


def service_signature(session: Session) -> str:
    """The signature of the system job "Service SMS" (Variante 2), '' when none is set."""
    job = service_job(session)
    return signature(job).strip() if job is not None else ""


def inbound_email(job: Job | None) -> str:
    """Where received SMS are forwarded to ('' without a job or an address)."""
    return read_settings(job).websms.inbound_email if job is not None else ""


def receives(job: Job, channel: Channel | None) -> bool:
    """Variante 1 with "Empfang" on for `channel`: the run also reads what the modem received."""
    stored = channel_settings(job, channel)
    return stored.variant is Variant.MODEM and stored.modem.receive


# --- the secret of the websms webhooks ------------------------------------------------------------


def new_webhook_secret() -> str:
    return token_urlsafe(24)


def webhook_secret(job: Job, secret_key: str, strict: bool = False) -> str:
    """The job's webhook secret, decrypted ('' when none is set or, unless `strict`, when
    SMS_SECRET_KEY does not fit; `strict` raises SecretsUnreadable then)."""
    try:
        return decrypt_secrets(job.secrets, secret_key).get(WEBHOOK_SECRET, "")
    except SecretsUnreadable:
        if strict:
            raise
        return ""


def set_webhook_secret(job: Job, secret_key: str, secret: str | None = None) -> str:
    """Store a new webhook secret (generated unless given) with the job's other secrets and
    return it; the old one stops working. InputError when the stored secrets cannot be
    decrypted (they would be lost)."""
    try:
        current = decrypt_secrets(job.secrets, secret_key)
    except SecretsUnreadable as error:
        raise InputError(error.reason) from None
    secret = secret or new_webhook_secret()
    job.secrets = encrypt_secrets({**current, WEBHOOK_SECRET: secret}, secret_key)
    return secret


def job_for_webhook_secret(session: Session, received: str, secret_key: str) -> Job | None:
    """The Service SMS job whose webhook secret is `received` (compared in constant time with
    each decrypted one); None when none matches."""
    if not received:
        return None
    found = None
    for job in service_jobs(session):
        stored = webhook_secret(job, secret_key)
        if stored and hmac.compare_digest(stored.encode(), received.encode()):
            found = job
    return found


def _with_webhook_secret(url: str, secret: str) -> str:
    """A stored delivery-report URL with the webhook secret filled in (kept as is without)."""
    return url.replace(SECRET_IN_URL, secret) if secret else url


def callback_url(job: Job, secret_key: str) -> str:
    """The delivery-report URL as entered (with the webhook secret), for the Einstellungen."""
    url = read_settings(job).websms.notification_callback_url
    return _with_webhook_secret(url, webhook_secret(job, secret_key)) if url else ""
