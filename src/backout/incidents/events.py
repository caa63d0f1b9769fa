"""The kinds of event an incident's timeline records: one enumeration, documented in
docs/architecture.md ("The timeline"), so reports, the API and the dashboard can rely on them."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    # the incident
    DETECTED = "detected"  # opened: by a trigger, a person, or a run that needed one
    TRIGGER_FIRED = "trigger_fired"  # a trigger fired again on an open incident
    REOPENED = "reopened"  # a trigger fired while a recovery was being watched
    RECOVERED = "recovered"  # the service answered its health checks again
    RECOVERY_WITHDRAWN = "recovery_withdrawn"  # a run that recovered it failed afterwards
    UNVERIFIED = "unverified"  # a run ended well, but no health check verified the recovery
    RESOLVED = "resolved"
    STOPPED = "stopped"  # a person stopped the service (`backout stop`)
    STATUS_CHANGED = "status_changed"  # investigating → identified → monitoring → resolved
    NOTE = "note"  # a person's note, for the team only
    PUBLIC_UPDATE = "public_update"  # a note marked public: shown on the status page
    CHECKLIST_CONFIRMED = "checklist_confirmed"  # a runbook checklist item, and who confirmed it
    REPORT_EDITED = "report_edited"  # root cause, lessons or action items written
    REPORT_REMINDER = "report_reminder"  # the report is unfinished 24 h after resolution
    # what the triggers saw (each with its evidence: the measurements behind it)
    TRIGGER_INCONCLUSIVE = "trigger_inconclusive"  # a source could not be read, too often
    TRIGGER_RECOVERED = "trigger_recovered"  # the firing trigger is back under its threshold
    HELD = "held"  # the triggers stayed quiet for a whole hold or monitoring window
    NEEDS_PERSON = "needs_person"  # backout will not act on its own: the restored release
    #                                fails too, or a data check failed
    ALERT_FIRED = "alert_fired"  # an outside alert (Alertmanager) fired for the service
    ALERT_RESOLVED = "alert_resolved"  # that alert was resolved
    # the people told
    NOTIFICATION_SENT = "notification_sent"  # delivered to one target of one audience
    NOTIFICATION_FAILED = "notification_failed"  # one attempt failed; retried unless given up
    ESCALATED = "escalated"  # an approval waited too long: the next person was asked
    # its runs
    RUN_PLANNED = "run_planned"  # the whole plan stored, its subjects locked
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    STEP_STARTED = "step_started"
    STEP_SUCCEEDED = "step_succeeded"
    STEP_SKIPPED = "step_skipped"
    STEP_FAILED = "step_failed"
    RUN_SUCCEEDED = "run_succeeded"
    RUN_FAILED = "run_failed"
    RUN_ABORTED = "run_aborted"
    RUN_LEFT_FOR_RESUME = "run_left_for_resume"  # its process stopped between two steps
    # what the runs did
    FLAG_CHANGED = "flag_changed"
    RESTORE_MEASURED = "restore_measured"  # the data-loss window a restore achieved
