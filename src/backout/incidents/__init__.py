"""Incidents: what went wrong, its timeline, its status, and how it measured up."""

from backout.categories import IncidentCategory
from backout.incidents.events import EventKind
from backout.incidents.incident import (
    mark_recovered,
    open_incident,
    open_incident_for,
    resolve,
    time_to_detect,
    time_to_recover,
    withdraw_recovery,
)
from backout.incidents.lifecycle import IncidentStatus, Mover, move_incident
from backout.incidents.timeline import Evidence, add_event

__all__ = [
    "EventKind",
    "Evidence",
    "IncidentCategory",
    "IncidentStatus",
    "Mover",
    "add_event",
    "mark_recovered",
    "move_incident",
    "open_incident",
    "open_incident_for",
    "resolve",
    "time_to_detect",
    "time_to_recover",
    "withdraw_recovery",
]
