# Cloud Monitoring alert policies on synthmon's own metrics. Every condition reduces across task_id
# (one per Cloud Run instance, new after each cold start) and groups by check and region, so an
# incident names a check and a location and never a process.

locals {
  metric_filter = {
    for name in keys(local.metrics) :
    name => "metric.type=\"${google_monitoring_metric_descriptor.synthmon[name].type}\" AND resource.type=\"generic_task\""
  }
  by_check_and_location = ["metric.label.check", "resource.label.location"]

  service_url_list = join("\n", [for region, svc in google_cloud_run_v2_service.synthmon : "- ${region}: ${svc.uri}"])

  probe_hint = <<-EOT
    Run the check now, without publishing, against the service of the alerting region:

        curl -H "Authorization: Bearer $(gcloud auth print-identity-token)" \
          "SERVICE_URL/probe?check=$${metric.label.check}&publish=0"

    The JSON report carries `failure.class`, `phases_ms` and a one-line `diagnosis`.
    Service URLs:

    ${local.service_url_list}

    Dashboard: ${local.dashboard_url}
  EOT
}

# The paging policies relay synthmon's own decision (alert/firing: thresholds, retries, dependencies,
# quorum and maintenance already applied) instead of re-deriving it from check/success, so that
# Cloud Monitoring pages as fast as the Pub/Sub event and never for what synthmon held back. Every
# region writes the shared decision; a global alert is grouped by check only (one incident for all
# regions), a regional warning by check and region. Time to incident, by the policy's own arithmetic
# (terraform/README.md "Time to page"): alignment period + duration + one evaluation.
resource "google_monitoring_alert_policy" "check_failing" {
  project               = var.project_id
  display_name          = "synthmon: check failing"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "alert/firing is 1 for a critical check, scope global"
    condition_threshold {
      filter          = "${local.metric_filter["alert/firing"]} AND metric.label.severity=\"critical\" AND metric.label.scope=\"global\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0.5
      # 0 s: synthmon already confirmed the failure (retry after retry_delay_s, failure_threshold).
      duration = "${var.alert_duration_s}s"
      aggregations {
        # The largest value in the look-back window: 1 as soon as one run decided "firing".
        alignment_period     = "${var.alert_alignment_s}s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.check"]
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  lifecycle {
    precondition {
      # alignment + duration + one evaluation (every 60 s) leaves 60 s of the 3 minutes for the run
      # that confirms the failure (an HTTP check with the defaults: 10 s + retry after 5 s + 10 s).
      condition     = var.alert_alignment_s + var.alert_duration_s + 60 <= 120
      error_message = "alert_alignment_s + alert_duration_s must be at most 60 s, so that the incident opens within 3 minutes of the first failing run (terraform/README.md \"Time to page\")."
    }
    precondition {
      condition     = local.alert_quorum >= 1 && local.alert_quorum <= length(var.regions)
      error_message = "alert_quorum must be between 1 and the number of regions."
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ## Check $${metric.label.check} failing

      synthmon fires this alert after `failure_threshold` consecutive failures, each confirmed by a
      retry after `retry_delay_s`, in at least `alert_quorum` (${local.alert_quorum}) regions. Checks that
      depend on it (`depends_on`) fail with it and do not page on their own: the `firing` event on the
      Pub/Sub topic `${var.alert_topic_name}` lists them under `affected`, with the failure class, the
      diagnosis, `since` (when the failures began) and `locations_failing`.

      Common classes: `unavailable` (HTTP 502/503/504: no healthy instance, e.g. a container that cannot
      import a module), `dns`, `tls`, `connect_timeout`, `auth`, `db_error`, `vpc_latency`.
      The `failure_class` label of `check/success` on the dashboard shows which one.

      ${local.probe_hint}
    EOT
  }
}

resource "google_monitoring_alert_policy" "check_warning" {
  project               = var.project_id
  display_name          = "synthmon: check failing in one region, or a warning check"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "alert/firing is 1, severity other than critical"
    condition_threshold {
      filter          = "${local.metric_filter["alert/firing"]} AND NOT metric.label.severity=\"critical\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0.5
      duration        = "${var.alert_duration_s}s"
      aggregations {
        alignment_period     = "${var.alert_alignment_s}s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.check", "metric.label.scope", "resource.label.location"]
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ## $${metric.label.check}: $${metric.label.scope} warning, seen from $${resource.label.location}

      Either the check fails in fewer than `alert_quorum` (${local.alert_quorum}) regions (scope
      `regional`: a network path or a region of staging, not the whole service; it becomes the
      critical "check failing" once enough regions agree), or the check's own severity is not critical.
      The event on `${var.alert_topic_name}` names `locations_failing`.

      ${local.probe_hint}
    EOT
  }
}

resource "google_monitoring_alert_policy" "latency_slo" {
  # Off by default: synthmon already pages on it through alert/firing (one outage, one page).
  count = var.metric_alert_policies ? 1 : 0

  project               = var.project_id
  display_name          = "synthmon: latency over SLO"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  dynamic "conditions" {
    for_each = var.latency_slo_ms
    content {
      display_name = "${conditions.key} check latency over ${conditions.value} ms (mean of ${var.latency_window_s / 60} min)"
      condition_threshold {
        filter          = "${local.metric_filter["check/latency_ms"]} AND metric.label.type=\"${conditions.key}\""
        comparison      = "COMPARISON_GT"
        threshold_value = conditions.value
        duration        = "0s"
        aggregations {
          alignment_period     = "${var.latency_window_s}s"
          per_series_aligner   = "ALIGN_MEAN"
          cross_series_reducer = "REDUCE_MEAN"
          group_by_fields      = local.by_check_and_location
        }
        trigger {
          count = 1
        }
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ## $${metric.label.check} slow in $${resource.label.location}

      The mean latency of **$${metric.label.check}** over ${var.latency_window_s / 60} minutes is above its
      SLO (${join(", ", [for t, ms in var.latency_slo_ms : "${t} ${ms} ms"])}). The check may still pass.

      The dashboard's "Latency by phase" chart says where the time goes: `dns`/`connect`/`tls` point at
      the network or the load balancer, `ttfb` at the service, `first_event`/`complete` at the agent,
      `query` at the database (and see the VPC round trip next to it).

      ${local.probe_hint}
    EOT
  }
}

resource "google_monitoring_alert_policy" "vpc_over_threshold" {
  # Off by default: synthmon already pages on it through alert/firing (one outage, one page).
  count = var.metric_alert_policies ? 1 : 0

  project               = var.project_id
  display_name          = "synthmon: VPC round trip over threshold"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "vpc/over_threshold is 1 for ${var.vpc_over_threshold_window_s / 60} min"
    condition_threshold {
      filter          = local.metric_filter["vpc/over_threshold"]
      comparison      = "COMPARISON_GT"
      threshold_value = 0.5
      duration        = "0s"
      aggregations {
        # The smallest value of the window: 1 means every run in it was over the threshold.
        alignment_period     = "${var.vpc_over_threshold_window_s}s"
        per_series_aligner   = "ALIGN_MIN"
        cross_series_reducer = "REDUCE_MIN"
        group_by_fields      = local.by_check_and_location
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ## Private network slow for $${metric.label.check} in $${resource.label.location}

      The TCP round trip to the private endpoint of **$${metric.label.check}** (Cloud SQL behind the
      Serverless VPC Access connector) has been over the check's `vpc_latency_threshold_ms` for
      ${var.vpc_over_threshold_window_s / 60} minutes. This is the network, not PostgreSQL: staging has seen
      5+ second round trips through a saturated connector.

      Look at the connector's throughput and instance count (Serverless VPC Access metrics), raise its
      max instances or machine type, and check that the egress setting is still `private-ranges-only`
      (all-traffic once caused 15 s database timeouts).

      ${local.probe_hint}
    EOT
  }
}

resource "google_monitoring_alert_policy" "golden_path_events_missing" {
  # Off by default: synthmon already pages on it through alert/firing (one outage, one page).
  count = var.metric_alert_policies ? 1 : 0

  project               = var.project_id
  display_name          = "synthmon: golden path agent events missing"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "ws_event_missing in 2 or more runs within ${var.events_missing_window_s / 60} min"
    condition_threshold {
      filter          = "${local.metric_filter["check/success"]} AND metric.label.failure_class=\"ws_event_missing\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "0s"
      aggregations {
        alignment_period     = "${var.events_missing_window_s}s"
        per_series_aligner   = "ALIGN_COUNT"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = local.by_check_and_location
      }
      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "agent_completed not received for ${var.events_missing_window_s / 60} min"
    condition_absent {
      filter   = "${local.metric_filter["websocket/event_latency_ms"]} AND metric.label.event=\"agent_completed\""
      duration = "${var.events_missing_window_s}s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = local.by_check_and_location
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ## Golden path broken in $${resource.label.location}: the agent's events do not arrive

      A user can connect and send a chat message, but the required agent events (at least
      `agent_started` and `agent_completed`) did not arrive in time. Chat is broken for users even if
      every health endpoint is green.

      Check the WebSocket event latencies on the dashboard (which event is the last to arrive), the
      backend's agent and tool logs for the run ids in the alert event on `${var.alert_topic_name}`, and
      whether the backend answers `agent_error`. A first event that never comes usually means the agent
      never started (queue, model credentials); a missing `agent_completed` after tools means a tool hung.
      If "check failing" fired for the same check with another class (`auth`, `unavailable`, `dns`),
      the agent never got the message: start there.

      ${local.probe_hint}
    EOT
  }
}

resource "google_monitoring_alert_policy" "cert_expiring" {
  # Off by default: synthmon already pages on it through alert/firing (one outage, one page).
  count = var.metric_alert_policies ? 1 : 0

  project               = var.project_id
  display_name          = "synthmon: certificate expires in less than ${var.cert_min_days} days"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "tls/cert_days_left below ${var.cert_min_days}"
    condition_threshold {
      filter          = local.metric_filter["tls/cert_days_left"]
      comparison      = "COMPARISON_LT"
      threshold_value = var.cert_min_days
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_MIN"
        cross_series_reducer = "REDUCE_MIN"
        group_by_fields      = ["metric.label.check"]
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ## Certificate of $${metric.label.check} expires soon

      The server certificate seen by **$${metric.label.check}** expires in less than ${var.cert_min_days} days.
      Google-managed certificates renew by themselves about 30 days before expiry; one that has not
      renewed usually has a DNS record that no longer points at the load balancer, or a CAA record
      that forbids the issuing CA. Self-managed certificates must be replaced by hand.

      ${local.probe_hint}
    EOT
  }
}

resource "google_monitoring_alert_policy" "monitor_silent" {
  project               = var.project_id
  display_name          = "synthmon: monitor stopped reporting"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "run/duration_ms absent for ${var.heartbeat_absent_s / 60} min"
    condition_absent {
      filter   = local.metric_filter["run/duration_ms"]
      duration = "${var.heartbeat_absent_s}s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_MEAN"
        cross_series_reducer = "REDUCE_COUNT"
        group_by_fields      = ["resource.label.location"]
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ## synthmon itself is silent in $${resource.label.location}

      Every run writes `run/duration_ms`; none arrived for ${var.heartbeat_absent_s / 60} minutes. Until this
      is fixed nothing watches staging from this region, and no other synthmon alert can fire.

      1. Cloud Scheduler job `${var.service_name}-run` in that region: paused? last attempt status?
         A 403 means the scheduler's service account lost `run.invoker`.
      2. Cloud Run service `${var.service_name}` logs: a crash at start (bad config: the message names
         the file, check and field) or 5xx from `/run`.
      3. `curl -H "Authorization: Bearer $(gcloud auth print-identity-token)" SERVICE_URL/healthz`
      4. The runner's service account lost `roles/monitoring.metricWriter`: runs succeed but nothing
         reaches Cloud Monitoring (the structured log still has every result).
    EOT
  }
}
