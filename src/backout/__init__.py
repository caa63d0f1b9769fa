"""backout: from a rollback trigger to a verified recovery and a written report."""

__version__ = "0.1.0"
