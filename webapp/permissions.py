"""The numbered permissions and the one access check used by routes and the menu alike.

A view declares its rule with `@requires(...)` (or `@public`); `may_access(endpoint)` evaluates
the same rule for the navigation, so the menu never shows what the server would refuse. A refusal
says why (`Refusal`): the guard hands it to the 403 page as `g.refusal`, which names the missing
permission by number and name ("Ihnen fehlt die Berechtigung 1669 „…“").
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, current_app, g
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import login_manager


class Permission(enum.IntEnum):
    """Berechtigungen (SPEC R50–R53). ADMINISTRATOR is the user's flag, not a role grant."""

    ADMINISTRATOR = -1  # not a number of the manual; never 0, which reads as "none"
    SMS_MESSAGES = 1669
    SMS_TEXTS = 150037
    MOBILE_PREFIXES = 101024
    SMS_SEND = 298004

    @property
    def label(self) -> str:
        return PERMISSION_LABELS[self]


# The names users know from the manual; identifiers, so they are not translated.
PERMISSION_LABELS: dict[Permission, str] = {
    Permission.ADMINISTRATOR: "Administrator",
    Permission.SMS_MESSAGES: "3220.Menü Administration/SMS Nachrichten",
    Permission.SMS_TEXTS: "Smstexte (Hauptmenü)",
    Permission.MOBILE_PREFIXES: "SMS_HANDYVORWAHLEN (Konfigurationstabelle)",
    Permission.SMS_SEND: "SMS_senden (Hauptmenü)",
}

# What a role can grant: every numbered permission (administrator is a flag on the user).
ROLE_PERMISSIONS: tuple[Permission, ...] = tuple(
    p for p in Permission if p is not Permission.ADMINISTRATOR
)


def user_can(user: Any, permission: Permission) -> bool:
    """Whether `user` holds `permission`; administrators hold every permission."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_administrator:
        return True
    if permission is Permission.ADMINISTRATOR:
        return False
    return int(permission) in user.granted_permissions


@dataclass(frozen=True)
class Refusal:
    """Why a user may not open a view: HTTP status (401: not logged in, 403), the permissions
    of which the user holds none (`missing`; any one would do) or a state of the installation
    (`reason`, e.g. global 1400 off)."""

    status: int
    missing: tuple[Permission, ...] = ()
    reason: str | None = None

    @property
    def message(self) -> str:
        """The German sentence for the 403 page."""
        if self.reason:
            return self.reason
        if Permission.ADMINISTRATOR in self.missing:
            return _("Diese Seite ist Administratoren vorbehalten.")
        named = [_("%(number)d „%(name)s“", number=int(p), name=p.label) for p in self.missing]
        if len(named) == 1:
            return _("Ihnen fehlt die Berechtigung %(permission)s.", permission=named[0])
        if named:
            return _(
                "Ihnen fehlt eine dieser Berechtigungen: %(permissions)s.",
                permissions=_(" oder ").join(named),
            )
        return _("Für diese Seite fehlt Ihnen die Berechtigung.")


@dataclass(frozen=True)
class AccessRule:
    """Who may open a view: `public`, any logged-in user, or holders of `permission`.

    `condition` adds a state of the installation (e.g. global 1400 on); when it returns a
    message the view is refused with that message.
    """

    public: bool = False
    permission: Permission | None = None
    condition: Callable[[], str | None] | None = None
    # Public for the login guard, but the view authenticates the caller itself (JSON API by
    # bearer token, websms webhooks by their secret): anonymous requests get 401.
    own_authentication: bool = False
    # A helper of other dialogs (the template picker of the SMS editor): open to whoever may
    # open one of these endpoints, by their own rules.
    serves: tuple[str, ...] = ()

    def refusal(self, user: Any) -> Refusal | None:
        """None when `user` may pass, else why not."""
        if self.public:
            return None
        if not getattr(user, "is_authenticated", False):
            return Refusal(401)
        if self.permission is not None and not user_can(user, self.permission):
            return Refusal(403, (self.permission,))
        if self.serves:
            refusals = [_endpoint_refusal(endpoint, user) for endpoint in self.serves]
            if all(refusals):
                # Several dialogs would let the user in: name what any of them lacks, else
                # why none of them is open (the SMS service is off).
                missing = tuple(dict.fromkeys(p for r in refusals if r for p in r.missing))
                reasons = [r.reason for r in refusals if r and r.reason]
                return Refusal(403, missing, None if missing or not reasons else reasons[0])
        if self.condition is not None:
            reason = self.condition()
            if reason:
                return Refusal(403, reason=reason)
        return None


F = TypeVar("F", bound=Callable[..., Any])


def _guard(rule: AccessRule) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            refused = rule.refusal(current_user)
            if refused is not None:
                if refused.status == 401:
                    return login_manager.unauthorized()
                g.refusal = refused  # the 403 page says what is missing
                abort(refused.status)
            return view(*args, **kwargs)

        wrapped.__dict__["access_rule"] = rule  # read by access_rule()
        return cast(F, wrapped)

    return decorator


def requires(
    permission: Permission | None = None,
    condition: Callable[[], str | None] | None = None,
) -> Callable[[F], F]:
    """Guard a view: login required, plus `permission` and `condition` when given."""
    return _guard(AccessRule(permission=permission, condition=condition))


def serves(*endpoints: str) -> Callable[[F], F]:
    """Guard a helper view of other dialogs: login required, and the user must be allowed to
    open at least one of `endpoints` (so the helper never shows more than those dialogs)."""
    return _guard(AccessRule(serves=endpoints))


def public(view: F) -> F:
    """Mark a view as open to everybody (login page, health check)."""
    return _guard(AccessRule(public=True))(view)


def own_authentication(view: F) -> F:
    """Mark a view that needs no login but authenticates the caller itself (API, webhooks)."""
    return _guard(AccessRule(public=True, own_authentication=True))(view)


def access_rule(endpoint: str) -> AccessRule | None:
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "access_rule", None)


def _endpoint_refusal(endpoint: str, user: Any) -> Refusal | None:
    rule = access_rule(endpoint)
    if rule is None:
        return Refusal(403)
    return rule.refusal(user)


def may_access(endpoint: str, user: Any = None) -> bool:
    """Whether the user may open `endpoint`: the rule of the view itself, for menus and buttons.

    False for endpoints that do not exist (yet), so a menu can list dialogs of later issues.
    """
    rule = access_rule(endpoint)
    if rule is None:
        return False
    return rule.refusal(user if user is not None else current_user) is None
