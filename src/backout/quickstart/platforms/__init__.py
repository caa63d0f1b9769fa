"""`backout quickstart --scenario platforms`: every platform the runbook names, on this machine
(HAProxy, BIND, Terraform, S3 + CloudFront on moto's server), rolled back in one run."""

from backout.quickstart.platforms.story import PlatformsQuickstartResult, run_platforms_quickstart

__all__ = ["PlatformsQuickstartResult", "run_platforms_quickstart"]
