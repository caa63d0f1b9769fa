"""The Unleash client specification's evaluation, compiled once per flag set (see backout.flags)."""

from backout.flags.evaluation.evaluator import Evaluator, FlagPayloadError

__all__ = ["Evaluator", "FlagPayloadError"]
