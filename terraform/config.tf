# What Terraform reads from the config (var.config_yaml): the run's time bound, the checks that
# carry an `slo`, and the config the services get, with `alerting.locations` (and `alerting.quorum`
# when var.alert_quorum is set) filled in from var.regions.
#
# Only variables are referenced here, so tests/terraform evaluates these locals with the terraform
# binary itself (`terraform console` needs no provider); keep resources out of this file.

locals {
  config = yamldecode(var.config_yaml)
  # `for` over a missing or empty (null) section fails, and try() turns that into the empty value.
  config_defaults = try({ for k, v in local.config.defaults : k => v }, {})
  config_checks   = try([for c in local.config.checks : c], [])

  # The loader's own defaults (probes/checks.py Defaults) where neither the check nor `defaults:` says.
  default_timeout_s     = tonumber(lookup(local.config_defaults, "timeout_s", 10))
  default_retries       = tonumber(lookup(local.config_defaults, "retries", 1))
  default_retry_delay_s = tonumber(lookup(local.config_defaults, "retry_delay_s", 5))
  default_interval_s    = tonumber(lookup(local.config_defaults, "interval_s", 60))

  # The longest a check can take with its retries (CheckBase.budget_s):
  # timeout_s * (retries + 1) + retry_delay_s * retries.
  check_budget_s = {
    for c in local.config_checks : c.name => (
      tonumber(lookup(c, "timeout_s", local.default_timeout_s)) * (tonumber(lookup(c, "retries", local.default_retries)) + 1)
      + tonumber(lookup(c, "retry_delay_s", local.default_retry_delay_s)) * tonumber(lookup(c, "retries", local.default_retries))
    )
  }

  # A run waits for every check it started: its bound is
  # run_timeout_s when the config sets it, else the longest check budget (Config.run_bound_s).
  run_timeout_s = try(tonumber(local.config.run_timeout_s), null) != null ? tonumber(local.config.run_timeout_s) : (
    length(local.check_budget_s) == 0 ? 10 : max(values(local.check_budget_s)...)
  )
  # Cloud Run answers within its request timeout (<= 3600 s); Scheduler waits as long, within its
  # own 15 s - 30 min attempt_deadline range (run.tf and scheduler.tf check both bounds).
  request_timeout_s  = local.run_timeout_s + var.request_timeout_margin_s
  attempt_deadline_s = min(max(local.request_timeout_s, 15), 1800)

  # Checks with an availability objective get a Cloud Monitoring service, SLO and burn-rate policies
  # (slo.tf). Each SLO window holds at least one run of the check in every region: its interval_s,
  # rounded up to a period Cloud Monitoring accepts (whole minutes that divide a day), so a window
  # between two runs is never empty.
  # (range() stops at 1024 values; the only divisor of 1440 above 720 is 1440 itself.)
  slo_window_periods_s = [for m in concat(range(1, 721), [1440]) : m * 60 if 1440 % m == 0]
  slo = {
    for c in local.config_checks : c.name => {
      objective       = tonumber(c.slo.objective)
      window_days     = tonumber(lookup(c.slo, "window_days", 28))
      window_period_s = min([for p in local.slo_window_periods_s : p if p >= tonumber(lookup(c, "interval_s", local.default_interval_s))]...)
      # Service ids take lowercase letters, digits and dashes; check names may also carry _ and .
      service_id = "${var.service_name}-${replace(c.name, "/[^a-z0-9-]/", "-")}"
    } if try(c.slo, null) != null
  }

  # The SRE workbook's multiwindow burn-rate alerts, as monitor/slo.py BURN_RATE_ALERTS: both windows
  # above the factor; at 14.4x, 2 % of a 30-day budget goes in 1 h; at 6x, 5 % in 6 h.
  burn_rate_alerts = {
    fast = { long_s = 3600, short_s = 300, burn_rate = 14.4, severity = "CRITICAL", budget_pct = 2 }
    slow = { long_s = 21600, short_s = 1800, burn_rate = 6, severity = "ERROR", budget_pct = 5 }
  }

  # Multi-region alerting: every region writes to the one shared state store; the service pages
  # `global` when a check fails in >= quorum of these locations. A null var.alert_quorum leaves the
  # quorum to the service, whose default is a majority of `locations` (1 for a single region).
  alerting = merge(
    try({ for k, v in local.config.alerting : k => v }, {}),
    { locations = sort(keys(var.regions)) },
    { for k, v in { quorum = var.alert_quorum } : k => v if v != null },
  )
  service_config_yaml = yamlencode(merge(local.config, { alerting = local.alerting }))
}
