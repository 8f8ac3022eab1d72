resource "google_cloud_scheduler_job" "run" {
  for_each = google_cloud_run_v2_service.synthmon

  project     = var.project_id
  region      = each.key
  name        = "${var.service_name}-run"
  description = "POST /run on synthmon in ${each.key}; each check runs when its interval_s is due"
  schedule    = var.schedule
  time_zone   = var.time_zone
  # Cloud Run answers within its request timeout; the attempt deadline waits for that answer
  # (config.tf derives both from the config; Scheduler allows 15 s to 30 min).
  attempt_deadline = "${local.attempt_deadline_s}s"

  # No retries: the next tick is the retry, and a retried /run would only find the checks not yet due.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${each.value.uri}/run"

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = each.value.uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invoker]

  lifecycle {
    precondition {
      condition     = local.request_timeout_s <= 1800
      error_message = "The request timeout exceeds Cloud Scheduler's 30 min attempt deadline: Scheduler would give up on a /run that is still within its bound. Lower run_timeout_s or the longest check's timeout_s and retries."
    }
  }
}
