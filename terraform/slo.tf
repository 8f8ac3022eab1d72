# Availability SLOs: every check with `slo: {objective, window_days}` in the config gets a Cloud
# Monitoring custom service, an SLO over its check/success series, and the two burn-rate policies
# of the SRE workbook (monitor/slo.py BURN_RATE_ALERTS; tests/terraform keeps the two equal).
#
# Schema and API checked against the google provider's docs (hashicorp/terraform-provider-google
# website/docs/r/monitoring_custom_service, monitoring_slo, monitoring_alert_policy .html.markdown)
# and Cloud Monitoring's "Retrieving SLO data" and "Creating an alerting policy" (slo-monitoring/api):
# - check/success is an INT64 GAUGE. A request-based good_total_ratio needs DELTA or CUMULATIVE
#   series, so the SLI is windows-based: metric_mean_in_range, which takes INT64/DOUBLE GAUGE series
#   and counts a window good when the mean over the returned streams is in range. The range is
#   min = 1 with no max (open, ">= min"): the mean of 0/1 values is 1 only when every result in the
#   window passed, in every region. A max of 1 is left out because provider versions document the
#   upper bound both as exclusive and as inclusive.
# - goal is 0 < goal <= 0.999, rolling_period_days 1..30, window_period an integer fraction of a day
#   and at least 60 s (preconditions below).
# - burn-rate conditions are condition_threshold with only filter, comparison, threshold_value,
#   duration and trigger: filter = select_slo_burn_rate("projects/P/services/S/serviceLevelObjectives/O", "3600s").

# local.slo (the checks, their windows and service ids) and local.burn_rate_alerts are in config.tf.
locals {
  slo_burn_rate_policies = {
    for pair in setproduct(keys(local.slo), keys(local.burn_rate_alerts)) : "${pair[0]}/${pair[1]}" => merge(
      local.burn_rate_alerts[pair[1]], { check = pair[0], speed = pair[1] }
    )
  }
}

resource "google_monitoring_custom_service" "check" {
  for_each = local.slo

  project      = var.project_id
  service_id   = each.value.service_id
  display_name = "synthmon ${each.key}"
  user_labels  = local.labels
}

resource "google_monitoring_slo" "availability" {
  for_each = local.slo

  project             = var.project_id
  service             = google_monitoring_custom_service.check[each.key].service_id
  slo_id              = "availability"
  display_name        = "${each.key}: ${each.value.objective * 100} % of ${each.value.window_period_s / 60}-min windows pass, ${each.value.window_days} days"
  goal                = each.value.objective
  rolling_period_days = each.value.window_days

  windows_based_sli {
    window_period = "${each.value.window_period_s}s"
    metric_mean_in_range {
      time_series = join(" AND ", [
        "metric.type=\"${google_monitoring_metric_descriptor.synthmon["check/success"].type}\"",
        "resource.type=\"generic_task\"",
        "resource.label.namespace=\"synthmon\"",
        "metric.label.check=\"${each.key}\"",
      ])
      range {
        min = 1
      }
    }
  }

  lifecycle {
    precondition {
      condition     = each.value.objective > 0 && each.value.objective <= 0.999
      error_message = "slo.objective of ${each.key} must be in (0, 0.999]: Cloud Monitoring's SLO goal limit."
    }
    precondition {
      condition     = each.value.window_days >= 1 && each.value.window_days <= 30 && floor(each.value.window_days) == each.value.window_days
      error_message = "slo.window_days of ${each.key} must be a whole number of days from 1 to 30 (Cloud Monitoring's rolling period)."
    }
  }
}

resource "google_monitoring_alert_policy" "slo_burn_rate" {
  for_each = local.slo_burn_rate_policies

  project               = var.project_id
  display_name          = "synthmon: ${each.value.check} burning its error budget (${each.value.speed})"
  combiner              = "AND"
  severity              = each.value.severity
  notification_channels = var.notification_channels
  user_labels           = local.labels

  # Both windows at once (combiner AND): the long one proves the burn is real, the short one that it
  # is still going on, so the incident closes soon after the check recovers.
  conditions {
    display_name = "burn rate over ${each.value.long_s / 3600} h above ${each.value.burn_rate}x"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.availability[each.value.check].name}\", \"${each.value.long_s}s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.burn_rate
      duration        = "0s"
      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "burn rate over ${each.value.short_s / 60} min above ${each.value.burn_rate}x"
    condition_threshold {
      filter          = "select_slo_burn_rate(\"${google_monitoring_slo.availability[each.value.check].name}\", \"${each.value.short_s}s\")"
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.burn_rate
      duration        = "0s"
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "${each.value.long_s}s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ## ${each.value.check} is spending its error budget ${each.value.burn_rate}x too fast

      The SLO of **${each.value.check}** is ${local.slo[each.value.check].objective * 100} % of
      ${local.slo[each.value.check].window_period_s / 60}-minute windows passing over ${local.slo[each.value.check].window_days} days
      (a window passes when every `${google_monitoring_metric_descriptor.synthmon["check/success"].type}`
      point in it, from every region, is 1). Over the last ${each.value.long_s / 3600} h and the last
      ${each.value.short_s / 60} min it failed more than ${each.value.burn_rate} times the allowed rate: at
      this rate ${each.value.budget_pct} % of the whole budget goes in ${each.value.long_s / 3600} h.

      `/status` shows the budget left, computed from the history with the same formula
      (monitor/slo.py: 1 - (bad / total) / (1 - objective)). The check's own "check failing" alert and
      the Pub/Sub event say which failure class it is.

      ${local.probe_hint}
    EOT
  }
}
