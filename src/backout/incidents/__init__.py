"""Incidents: what went wrong, its timeline, and how fast it was detected and recovered."""

from backout.categories import IncidentCategory
from backout.incidents.events import EventKind
from backout.incidents.incident import (
    Evidence,
    IncidentStatus,
    add_event,
    mark_recovered,
    open_incident,
    open_incident_for,
    resolve,
    time_to_detect,
    time_to_recover,
    withdraw_recovery,
)

__all__ = [
    "EventKind",
    "Evidence",
    "IncidentCategory",
    "IncidentStatus",
    "add_event",
    "mark_recovered",
    "open_incident",
    "open_incident_for",
    "resolve",
    "time_to_detect",
    "time_to_recover",
    "withdraw_recovery",
]
