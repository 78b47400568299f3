"""Users, roles and the numbered permissions granted through roles."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import Model, db
from webapp.models.base import TimestampMixin, UTCDateTime
from webapp.models.mandanten import Mandant

user_role = Table(
    "user_role",
    db.metadata,
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", Integer, ForeignKey("role.id", ondelete="CASCADE"), primary_key=True),
)

user_mandant = Table(
    "user_mandant",
    db.metadata,
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("mandant_id", Integer, ForeignKey("mandant.id", ondelete="CASCADE"), primary_key=True),
)


class RolePermission(Model):
    """One permission number granted by a role (see webapp.permissions.Permission)."""

    __tablename__ = "role_permission"

    role_id: Mapped[int] = mapped_column(
        ForeignKey("role.id", ondelete="CASCADE"), primary_key=True
    )
    permission: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class Role(TimestampMixin, Model):
    __tablename__ = "role"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    grants: Mapped[list[RolePermission]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def permissions(self) -> set[int]:
        return {grant.permission for grant in self.grants}

    @permissions.setter
    def permissions(self, numbers: set[int]) -> None:
        keep = [g for g in self.grants if g.permission in numbers]
        have = {g.permission for g in keep}
        self.grants = keep + [RolePermission(permission=n) for n in sorted(numbers - have)]

    def __repr__(self) -> str:
        return f"<Role {self.name!r} {sorted(self.permissions)}>"


class User(UserMixin, TimestampMixin, Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-case: "Admin" and "admin" are the same login.
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(default=True)
    is_administrator: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session (see get_id): raising it ends all sessions of the user at once
    # (logout, password change, deactivation; see accounts.end_sessions).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    roles: Mapped[list[Role]] = relationship(secondary=user_role, lazy="selectin")
    mandanten: Mapped[list[Mandant]] = relationship(secondary=user_mandant, lazy="selectin")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie: the id and the
        session epoch, so a raised epoch invalidates both (webapp.login_sessions.load_user)."""
        return f"{self.id}:{self.session_epoch}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def granted_permissions(self) -> set[int]:
        """Permission numbers from all roles (administrators get every one, see permissions)."""
        return {number for role in self.roles for number in role.permissions}

    @property
    def label(self) -> str:
        return self.display_name or self.username

    def __repr__(self) -> str:
        return f"<User {self.username!r}>"
