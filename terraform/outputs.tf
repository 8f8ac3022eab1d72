output "service_urls" {
  description = "URL of the synthmon service per region. On-call: curl -H \"Authorization: Bearer $(gcloud auth print-identity-token)\" URL/probe?check=NAME"
  value       = { for region, svc in google_cloud_run_v2_service.synthmon : region => svc.uri }
}

output "alert_topic" {
  description = "Pub/Sub topic that receives alert events (full resource name)."
  value       = google_pubsub_topic.alerts.id
}

output "alert_subscription" {
  description = "Pull subscription on the alert topic for consumers."
  value       = google_pubsub_subscription.alerts.id
}

output "dashboard_url" {
  description = "Cloud Monitoring dashboard of synthmon in the Cloud console."
  value       = local.dashboard_url
}

output "runner_service_account" {
  description = "Email of the service account the prober runs as."
  value       = google_service_account.runner.email
}

output "scheduler_service_account" {
  description = "Email of the service account whose OIDC token Cloud Scheduler sends to POST /run."
  value       = google_service_account.scheduler.email
}
