"""The step kinds plans are made of, by the `kind` stored with each step."""

from backout.steps.approve import Approve
from backout.steps.base import StepContext, StepKind, StepOutcome
from backout.steps.database import (
    DatabaseBackup,
    DatabaseRestorePoint,
    DatabaseRevert,
    DatabaseVerify,
)
from backout.steps.database_reset import DatabaseReset, DatabaseUpgrade
from backout.steps.database_restore import DatabaseRestore, LostWrites
from backout.steps.database_switch import DatabaseCopyIn, DatabaseSwitch
from backout.steps.deploy import Deploy
from backout.steps.dns import DnsSet, DnsVerify
from backout.steps.flags import FlagHold, FlagMarkRemove, FlagSet
from backout.steps.health import HealthCheck
from backout.steps.monitor import Monitor
from backout.steps.pin import PinRelease
from backout.steps.release import MarkRelease
from backout.steps.retire import RetirePrevious
from backout.steps.slots import DeployBeside, Retire
from backout.steps.stack import StackApply, StackPlanStep, StackVerify
from backout.steps.traffic import Drain, RestoreTraffic

STEP_KINDS: dict[str, StepKind] = {
    kind.kind: kind
    for kind in (
        Approve(),
        Drain(),
        Deploy(),
        HealthCheck(),
        RestoreTraffic(),
        Monitor(),
        MarkRelease(),
        PinRelease(),
        DatabaseBackup(),
        DatabaseRestorePoint(),
        DatabaseRevert(),
        DatabaseVerify(),
        DatabaseRestore(),
        LostWrites(),
        DatabaseCopyIn(),
        DatabaseSwitch(),
        DatabaseReset(),
        DatabaseUpgrade(),
        FlagSet(),
        FlagHold(),
        FlagMarkRemove(),
        RetirePrevious(),
        DnsSet(),
        DnsVerify(),
        DeployBeside(),
        Retire(),
        StackPlanStep(),
        StackApply(),
        StackVerify(),
    )
}

__all__ = ["STEP_KINDS", "StepContext", "StepKind", "StepOutcome"]
