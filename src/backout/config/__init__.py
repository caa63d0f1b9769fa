"""The `backout.yaml` schema and its loader: one place, every problem reported with its key path.

Precedence: built-in defaults, then `backout.yaml`, then `BACKOUT_*` environment variables
(`BACKOUT_DATABASE_URL` replaces `state.database`). Plug-in sections (`driver:`, `router:`,
health checks) carry a `type:` and are validated by the plug-in's own settings model when the
registry builds them, so their errors carry the same key paths.
"""

from backout.config.alerts import AlertSettings
from backout.config.loading import (
    config_without_refused_keys,
    key_path,
    load_config,
    parse_config,
    validation_problems,
)
from backout.config.model import Config
from backout.config.reporting import IncidentSettings, StatusPageSettings
from backout.config.sections import (
    DEFAULT_CONFIG_NAME,
    ClusterSettings,
    Contact,
    DatabaseConfig,
    FlagDefinition,
    FlagSettings,
    IntegrityAssertion,
    IntegritySettings,
    Objectives,
    PluginSpec,
    RtoObjectives,
    StateSettings,
    WatchSettings,
)
from backout.config.services import ProbeSettings, ServiceConfig, StepSettings, TriggerRule

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "AlertSettings",
    "ClusterSettings",
    "Config",
    "Contact",
    "DatabaseConfig",
    "FlagDefinition",
    "FlagSettings",
    "IncidentSettings",
    "IntegrityAssertion",
    "IntegritySettings",
    "Objectives",
    "PluginSpec",
    "ProbeSettings",
    "RtoObjectives",
    "ServiceConfig",
    "StateSettings",
    "StatusPageSettings",
    "StepSettings",
    "TriggerRule",
    "WatchSettings",
    "config_without_refused_keys",
    "key_path",
    "load_config",
    "parse_config",
    "validation_problems",
]
