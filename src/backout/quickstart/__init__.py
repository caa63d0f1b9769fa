"""`backout quickstart`: the runbook's application rollback, told on this machine in a minute."""

from backout.quickstart.scenario import QuickstartResult, run_quickstart
from backout.quickstart.workspace import create_workspace

__all__ = ["QuickstartResult", "create_workspace", "run_quickstart"]
