"""Users, roles and Mandanten: the rules behind the admin dialogs and the CLI."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from webapp.errors import InputError
from webapp.models import Mandant, Role, User
from webapp.models.base import utcnow
from webapp.permissions import ROLE_PERMISSIONS
from webapp.sms.scope import scoped
from webapp.validation import clean_email

MIN_PASSWORD_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"
# What unknown and inactive users' passwords are checked against: a hash of the same kind and
# cost as the users' (werkzeug's scrypt) of a random password nobody knows.
DUMMY_PASSWORD_HASH = (
    "scrypt:32768:8:1$pOdDJRhK09HKNjDM$17b88640a49ec1cf5c06a19635eadf53b4deb663a66f695225fd65c"
    "35ca98868ce85dd3ba4f3c6025935b5d63aaf2410564cdc5606708b509dd2f0dd3fb0abc1"
)


def normalize_username(raw: str) -> str:
    return (raw or "").strip().lower()


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same answer for every failure).

    Unknown and inactive users cost one password check too (against a dummy hash), so the
    time of the answer does not tell which user names exist.
    """
    user = session.scalar(select(User).where(User.username == normalize_username(username)))
    candidate = user if user is not None and user.active and user.password_hash else None
    stored = candidate.password_hash if candidate is not None else DUMMY_PASSWORD_HASH
    if not check_password_hash(stored, password or "") or candidate is None:
        return None
    candidate.last_login_at = utcnow()
    return candidate


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").split("\n")) - {""}


def check_password_rules(password: str) -> None:
    """The one password rule for every place a password is set (user dialog, create-admin):
    at least MIN_PASSWORD_LENGTH characters, not only blanks, not one of the commonest."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            _("Das Passwort muss mindestens %(n)d Zeichen lang sein.", n=MIN_PASSWORD_LENGTH),
            "password",
        )
    if not password.strip():
        raise InputError(_("Das Passwort darf nicht nur aus Leerzeichen bestehen."), "password")
    if password.strip().lower() in _common_passwords():
        raise InputError(
            _(
                "Dieses Passwort ist zu häufig verwendet und leicht zu erraten. "
                "Bitte wählen Sie ein anderes."
            ),
            "password",
        )


def end_sessions(session: Session, user: User) -> None:
    """End every session of `user` (all browsers, remember-me cookies too): logout, a new
    password and deactivation raise the epoch that each session carries (User.get_id)."""
    # In SQL, so two requests that end sessions at once both count.
    user.session_epoch = User.session_epoch + 1
    session.flush()


@dataclass
class UserInput:
    """What the user dialog and the CLI submit for a user."""

    username: str
    display_name: str = ""
    email: str = ""
    password: str = ""  # empty on edit: keep the current password
    is_administrator: bool = False
    active: bool = True
    role_ids: Iterable[int] = ()
    mandant_ids: Iterable[int] = ()


Chosen = TypeVar("Chosen", Role, Mandant)


def _load(session: Session, model: type[Chosen], ids: Iterable[int], field: str) -> list[Chosen]:
    wanted = {int(i) for i in ids}
    found = list(session.scalars(select(model).where(model.id.in_(wanted)))) if wanted else []
    if len(found) != len(wanted):
        raise InputError(_("Die Auswahl enthält Einträge, die es nicht mehr gibt."), field)
    return found


def _active_administrators(session: Session) -> int:
    # FOR UPDATE (PostgreSQL): two admins demoting each other at once wait for one another,
    # and the second then counts without the first, instead of both seeing two.
    return len(
        session.scalars(
            select(User.id)
            .where(User.is_administrator.is_(True), User.active.is_(True))
            .with_for_update()
        ).all()
    )


def _refuse_self_deactivation(user: User | None, active: bool, actor: User | None) -> None:
    if actor is not None and user is not None and user.id == actor.id and not active:
        raise InputError(_("Sie können sich nicht selbst deaktivieren."), "active")


def save_user(
    session: Session, data: UserInput, user: User | None = None, actor: User | None = None
) -> User:
    """Create (user=None) or update a user. Raises InputError and changes nothing on bad input.

    `actor` is who saves (None: the CLI): nobody deactivates themselves. A new password or
    deactivation ends the user's sessions.
    """
    username = normalize_username(data.username)
    if not USERNAME_PATTERN.match(username):
        raise InputError(
            _(
                "Der Benutzername muss 2–80 Zeichen lang sein und darf nur Buchstaben a–z, "
                "Ziffern, Punkt, Bindestrich und Unterstrich enthalten."
            ),
            "username",
        )
    clash = session.scalar(select(User).where(User.username == username))
    if clash is not None and clash is not user:
        raise InputError(_("Den Benutzernamen %(u)s gibt es bereits.", u=username), "username")
    email = clean_email(data.email)
    if user is None or data.password:
        check_password_rules(data.password)
    roles = _load(session, Role, data.role_ids, "roles")
    mandanten = _load(session, Mandant, data.mandant_ids, "mandanten")
    _refuse_self_deactivation(user, data.active, actor)
    if user is not None and user.is_administrator and user.active:
        losing_admin = not data.is_administrator or not data.active
        if losing_admin and _active_administrators(session) <= 1:
            raise InputError(
                _(
                    "Das ist der letzte aktive Administrator: er kann weder deaktiviert "
                    "noch zum normalen Benutzer gemacht werden."
                ),
                "is_administrator",
            )
    ends_sessions = user is not None and (bool(data.password) or (user.active and not data.active))
    if user is None:
        user = User(username=username)
        session.add(user)
    user.username = username
    user.display_name = (data.display_name or "").strip()[:120]
    user.email = email
    user.is_administrator = bool(data.is_administrator)
    user.active = bool(data.active)
    user.roles = roles
    user.mandanten = mandanten
    if data.password:
        user.set_password(data.password)
    session.flush()
    if ends_sessions:
        end_sessions(session, user)
    return user


def reset_password(session: Session, user: User, password: str) -> None:
    """Give `user` a new password (the rules of `check_password_rules`); ends their sessions.
    Raises InputError and changes nothing when the password breaks a rule."""
    check_password_rules(password)
    user.set_password(password)
    session.flush()
    end_sessions(session, user)


def set_user_active(session: Session, user: User, active: bool, actor: User | None = None) -> User:
    """Activate or deactivate a user (never the last active administrator, never `actor`
    themselves); deactivation ends the user's sessions."""
    _refuse_self_deactivation(user, active, actor)
    if (
        not active
        and user.is_administrator
        and user.active
        and _active_administrators(session) <= 1
    ):
        raise InputError(
            _("Das ist der letzte aktive Administrator: er kann nicht deaktiviert werden.")
        )
    ends_sessions = user.active and not active
    user.active = active
    session.flush()
    if ends_sessions:
        end_sessions(session, user)
    return user


def save_role(
    session: Session,
    name: str,
    permissions: Iterable[int],
    description: str = "",
    role: Role | None = None,
) -> Role:
    """Create or update a role with its permission numbers; InputError on bad input."""
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise InputError(_("Bitte einen Namen mit 1–80 Zeichen eingeben."), "name")
    clash = session.scalar(select(Role).where(func.lower(Role.name) == name.lower()))
    if clash is not None and clash is not role:
        raise InputError(_("Eine Rolle mit dem Namen %(n)s gibt es bereits.", n=name), "name")
    allowed = {int(p) for p in ROLE_PERMISSIONS}
    numbers = {int(p) for p in permissions}
    unknown = numbers - allowed
    if unknown:
        raise InputError(
            _(
                "Unbekannte Berechtigungsnummer(n): %(n)s.",
                n=", ".join(str(n) for n in sorted(unknown)),
            ),
            "permissions",
        )
    if role is None:
        role = Role(name=name)
        session.add(role)
    role.name = name
    role.description = (description or "").strip()[:255]
    role.permissions = numbers
    session.flush()
    return role


def delete_role(session: Session, role: Role) -> None:
    """Delete a role; its users simply lose the permissions it granted."""
    session.delete(role)
    session.flush()


def save_mandant(session: Session, name: str, mandant: Mandant | None = None) -> Mandant:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InputError(_("Bitte einen Namen mit 1–120 Zeichen eingeben."), "name")
    clash = session.scalar(select(Mandant).where(func.lower(Mandant.name) == name.lower()))
    if clash is not None and clash is not mandant:
        raise InputError(_("Den Mandanten %(n)s gibt es bereits.", n=name), "name")
    if mandant is None:
        mandant = Mandant(name=name)
        session.add(mandant)
    mandant.name = name
    session.flush()
    return mandant


# The name of the Mandant a new installation gets with its first administrator.
FIRST_MANDANT = "Hauptmandant"


def ensure_first_mandant(session: Session, name: str = FIRST_MANDANT) -> Mandant | None:
    """Create the installation's first Mandant when there is none yet (every SMS and record
    belongs to one: without it nobody can send); None when Mandanten exist already."""
    if session.scalar(select(Mandant.id).limit(1)) is not None:
        return None
    return save_mandant(session, name)


def missing_mandant_reason(session: Session, user: User) -> str | None:
    """Why `user` cannot create an SMS or a record, saying what an administrator must do; None
    when they have a Mandant to create it for."""
    if selectable_mandanten(session, user):
        return None
    if user.is_administrator:
        return _(
            "Es gibt noch keinen aktiven Mandanten. Bitte unter Administration – Mandanten "
            "einen anlegen."
        )
    return _(
        "Ihnen ist kein Mandant zugeordnet. Ein Administrator muss Sie unter Administration – "
        "Benutzer einem Mandanten zuordnen."
    )


def visible_mandant_ids(user: User) -> set[int] | None:
    """The Mandanten whose data `user` may see; None means all of them (administrators)."""
    if user.is_administrator:
        return None
    return {m.id for m in user.mandanten}


def selectable_mandanten(session: Session, user: User) -> list[Mandant]:
    """The active Mandanten `user` may create data for, by name."""
    stmt = select(Mandant).where(Mandant.active.is_(True)).order_by(Mandant.name)
    return list(session.scalars(scoped(stmt, Mandant.id, visible_mandant_ids(user))))


def visible_mandanten(session: Session, user: User) -> list[Mandant]:
    """The Mandanten whose data `user` may see, deactivated ones too, by name (the Mandant
    filter of the record lists)."""
    stmt = select(Mandant).order_by(Mandant.name)
    return list(session.scalars(scoped(stmt, Mandant.id, visible_mandant_ids(user))))
