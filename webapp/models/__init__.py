"""The database models, one module per aggregate. Import from here."""

from webapp.models.mandanten import Mandant
from webapp.models.settings import GlobalVariable, GlobalVariableType, MobilePrefix
from webapp.models.users import Role, RolePermission, User

__all__ = [
    "GlobalVariable",
    "GlobalVariableType",
    "Mandant",
    "MobilePrefix",
    "Role",
    "RolePermission",
    "User",
]
