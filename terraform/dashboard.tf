resource "google_monitoring_dashboard" "synthmon" {
  project = var.project_id
  dashboard_json = templatefile("${path.module}/dashboards/synthmon.json", {
    display_name             = "synthmon"
    vpc_latency_threshold_ms = var.vpc_latency_threshold_ms
    cert_min_days            = var.cert_min_days
  })

  # Charts on metrics without descriptors show "no data" with a warning; create the metrics first.
  depends_on = [google_monitoring_metric_descriptor.synthmon]
}

locals {
  dashboard_url = "https://console.cloud.google.com/monitoring/dashboards/custom/${element(split("/", google_monitoring_dashboard.synthmon.id), 3)}?project=${var.project_id}"
}
