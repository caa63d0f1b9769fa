"""The commented starter file `backout init` writes; a test checks that it validates."""

STARTER_CONFIG = """\
# backout.yaml — what backout watches, and how it rolls back.
# Durations: 500ms, 30s, 15m, 1h30m. Rates are fractions (0.05 = 5%), latencies seconds.
project: badminton-group
environment: production        # locks, releases and incidents are per environment

state:
  database: sqlite:///.backout/state.db   # or postgresql://user@host/db (BACKOUT_DATABASE_URL)
  directory: .backout                     # logs, pid files, release folders

objectives:                    # the runbook's "Rollback Time Objectives"
  rto: {critical: 15m, core: 30m, full_system: 2h, database: 1h}
  rpo: {user_data: 5m, transactional: 1m, configuration: 15m}

watch:
  interval: 1s                 # time between watch cycles

services:
  backend:
    tier: critical             # critical (RTO 15m) or core (RTO 30m)
    driver:                    # how versions are deployed: process, git-build, fake
      type: git-build
      repo: ./app              # a git repository with one tag per version (v1.2.0)
      install: ["npm ci --production"]
      build: ["npm run build"]
      start: "node dist/server.js --port {port}"
      port: 3000
    router:
      type: none               # no load balancer: the traffic steps are recorded as skipped
    health:                    # must all pass after a deploy or a rollback
      - type: http
        url: http://127.0.0.1:3000/health
        expect_status: 200
        max_response_time: 2s
    probe:                     # steady synthetic requests whose outcomes feed the triggers
      url: http://127.0.0.1:3000/api/sessions
      interval: 200ms
      window: 1m
    triggers:                  # the runbook's "Rollback Triggers"
      - name: error-rate
        metric: error_rate
        above: 0.05            # > 5% errors
        for: 1m
      - name: slower
        metric: latency_p95
        above_baseline: 1.5    # > 50% slower than the last known good release
        baseline_floor: 0.02   # ignore baselines under 20ms
        for: 2m
    policy: approve            # rollback (at once), approve (ask first), notify (only tell)
    bake_time: 10m             # watched by `backout watch`/serve this long, no trigger: good
    monitor: 30m               # watch after a rollback; a trigger firing fails the run
    traffic_restore: [10, 50, 100]
    traffic_hold: 1m

contacts:                      # the runbook's "Emergency Contacts"
  - {name: Lead Developer, role: lead_developer, email: lead@example.com}
  - {name: DevOps Engineer, role: devops, email: devops@example.com}

# notifications:               # who is told what, through Apprise (docs/notifications.md)
#   channels:
#     incidents: slack://${SLACK_TOKEN}/#incidents   # ${VAR}: read from the environment
#   email: mailtos://backout:${SMTP_PASSWORD}@smtp.example.com?from=backout@example.com
#   audiences:
#     team: {channels: [incidents], roles: [devops, lead_developer]}
# approvals: {escalate_after: 10m}   # then the next of incident_commander, lead_developer, devops
"""
