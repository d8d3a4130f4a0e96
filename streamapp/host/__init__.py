"""One host per process for the long-running roles (score, monitor, retrain).

:class:`RoleHost` resolves the cluster (``kafka.bootstrap_servers``; a local
development broker only with ``--local-broker``), checks the credentials,
serves ``/metrics`` and ``/health``, runs the heartbeat and the stop signals,
and hands the role a :class:`HostContext`. Without a cluster it refuses to
start: :class:`NoClusterError` (exit code 2, one line); nor with a registry format
and no ``schema_registry.url``: :class:`NoRegistryError`.
"""

from streamapp.host.cluster import require_cluster, require_registry, resolve_cluster
from streamapp.host.context import HostContext
from streamapp.host.errors import (
    NoClusterError,
    NoRegistryError,
    OutputSchemaError,
    StartupError,
    StateDirError,
    ensure_state_dir,
)
from streamapp.host.host import RoleHost
from streamapp.host.role import Role

__all__ = [
    "HostContext",
    "NoClusterError",
    "NoRegistryError",
    "OutputSchemaError",
    "Role",
    "RoleHost",
    "StartupError",
    "StateDirError",
    "ensure_state_dir",
    "require_cluster",
    "require_registry",
    "resolve_cluster",
]
