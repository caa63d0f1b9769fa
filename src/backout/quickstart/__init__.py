"""`backout quickstart`: the runbook's rollbacks, told on this machine in a minute."""

from backout.quickstart.database import DatabaseQuickstartResult, run_database_quickstart
from backout.quickstart.flags import FlagsQuickstartResult, run_flags_quickstart
from backout.quickstart.scenario import QuickstartResult, run_quickstart
from backout.quickstart.workspace import create_workspace

__all__ = [
    "DatabaseQuickstartResult",
    "FlagsQuickstartResult",
    "QuickstartResult",
    "create_workspace",
    "run_database_quickstart",
    "run_flags_quickstart",
    "run_quickstart",
]
