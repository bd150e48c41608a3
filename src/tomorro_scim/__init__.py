"""tomorro-scim: an embeddable SCIM 2.0 service provider for Python web apps.

The public API, re-exported from the modules that define it. Framework
adapters live in :mod:`tomorro_scim.adapters` and are imported explicitly,
so importing this package never imports a web framework or a database driver.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from .auth import BearerTokenAuthenticator
from .auth import IssuedToken
from .auth import TokenManager
from .errors import ScimError
from .events import EventBus
from .filter import CompiledFilter
from .filter import FilterLimits
from .filter import compile_filter
from .http import ScimRequest
from .http import ScimResponse
from .patch import PatchDialect
from .patch import PatchResult
from .patch import apply_patch
from .roles import GroupGrant
from .roles import Role
from .roles import RoleMap
from .roles import UnknownRolePolicy
from .schemas import ResourceType
from .schemas import SchemaRegistry
from .schemas import default_registry
from .service import ScimService
from .service import ServiceSettings
from .storage import Storage
from .storage import StorageSession
from .storage.memory import MemoryStorage

try:
    __version__: str = _distribution_version("tomorro-scim")
    """The installed distribution's version (PEP 440), from its metadata."""
except PackageNotFoundError:  # pragma: no cover - a source tree never installed
    __version__ = "0+unknown"

__all__ = [
    "BearerTokenAuthenticator",
    "CompiledFilter",
    "EventBus",
    "FilterLimits",
    "GroupGrant",
    "IssuedToken",
    "MemoryStorage",
    "PatchDialect",
    "PatchResult",
    "ResourceType",
    "Role",
    "RoleMap",
    "SchemaRegistry",
    "ScimError",
    "ScimRequest",
    "ScimResponse",
    "ScimService",
    "ServiceSettings",
    "Storage",
    "StorageSession",
    "TokenManager",
    "UnknownRolePolicy",
    "apply_patch",
    "compile_filter",
    "default_registry",
]
