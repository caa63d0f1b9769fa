"""Plans: the ordered steps of a rollback, built from config and state before anything runs."""

from backout.plans.application import application_plan
from backout.plans.base import Plan, StepSpec
from backout.plans.deploy import deploy_plan
from backout.plans.feature_flag import OnTrigger, flag_first_plan, ramp_down_plan

__all__ = [
    "OnTrigger",
    "Plan",
    "StepSpec",
    "application_plan",
    "deploy_plan",
    "flag_first_plan",
    "ramp_down_plan",
]
