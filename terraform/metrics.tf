# One descriptor per metric in monitor/metrics.py (tests/terraform/test_terraform.py keeps the two
# equal), created up front so that alert policies and the dashboard exist before the first data point.

locals {
  metric_prefix = "custom.googleapis.com/synthmon/"

  metric_label_descriptions = {
    check         = "Check name from the config"
    type          = "Check type: http, websocket, postgres or dns"
    failure_class = "Failure class of the result, \"none\" when the check passed"
    phase         = "Phase of the check, e.g. dns, connect, tls, ttfb, login, first_event, query"
    event         = "Agent event name, e.g. agent_started, agent_completed"
    severity      = "Severity of the alert: the check's own (critical by default) for scope global, warning for regional"
    scope         = "global (failing in at least alert_quorum regions) or regional (fewer)"
  }

  metrics = {
    "check/success" = {
      value_type  = "INT64"
      unit        = "1"
      description = "1 when the check passed, 0 when it failed"
      labels      = ["check", "type", "failure_class"]
    }
    "check/latency_ms" = {
      value_type  = "DOUBLE"
      unit        = "ms"
      description = "Total latency of the check"
      labels      = ["check", "type"]
    }
    "check/phase_latency_ms" = {
      value_type  = "DOUBLE"
      unit        = "ms"
      description = "Latency of one phase of the check"
      labels      = ["check", "type", "phase"]
    }
    "websocket/event_latency_ms" = {
      value_type  = "DOUBLE"
      unit        = "ms"
      description = "Arrival of a required agent event, from the message send"
      labels      = ["check", "event"]
    }
    "postgres/query_latency_ms" = {
      value_type  = "DOUBLE"
      unit        = "ms"
      description = "Median SELECT 1 round trip"
      labels      = ["check"]
    }
    "vpc/rtt_ms" = {
      value_type  = "DOUBLE"
      unit        = "ms"
      description = "Network round trip to the private endpoint"
      labels      = ["check"]
    }
    "vpc/over_threshold" = {
      value_type  = "INT64"
      unit        = "1"
      description = "1 when the VPC round trip is over the check's threshold"
      labels      = ["check"]
    }
    "tls/cert_days_left" = {
      value_type  = "DOUBLE"
      unit        = "d"
      description = "Days until the server certificate expires"
      labels      = ["check"]
    }
    "dns/resolve_ms" = {
      value_type  = "DOUBLE"
      unit        = "ms"
      description = "Resolution time of a DNS check's query"
      labels      = ["check"]
    }
    "alert/firing" = {
      value_type  = "INT64"
      unit        = "1"
      description = "1 while synthmon's own alert for the check is firing in that scope (thresholds, retries, dependencies, quorum, maintenance applied); written every run"
      labels      = ["check", "severity", "scope"]
    }
    "run/duration_ms" = {
      value_type  = "DOUBLE"
      unit        = "ms"
      description = "Duration of a whole run; also the monitor's heartbeat"
      labels      = []
    }
  }
}

resource "google_monitoring_metric_descriptor" "synthmon" {
  for_each = local.metrics

  project      = var.project_id
  type         = "${local.metric_prefix}${each.key}"
  display_name = "synthmon ${each.key}"
  description  = each.value.description
  # GAUGE only: Cloud Run restarts would break CUMULATIVE start times.
  metric_kind = "GAUGE"
  value_type  = each.value.value_type
  unit        = each.value.unit

  dynamic "labels" {
    for_each = each.value.labels
    content {
      key         = labels.value
      value_type  = "STRING"
      description = local.metric_label_descriptions[labels.value]
    }
  }
}
