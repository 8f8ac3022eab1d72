locals {
  # The run's bound and the timeouts derived from it are in config.tf:
  # run bound < Cloud Run request timeout = Scheduler attempt deadline.
  config_mount_dir = "/etc/synthmon"
  config_file      = "synthmon.yaml"

  firestore_database = var.create_firestore_database ? google_firestore_database.state[0].name : var.firestore_database

  # Non-secret environment the config can interpolate as $${NAME}; user values in var.env win.
  env = {
    for region in keys(var.regions) : region => merge({
      SYNTHMON_CONFIG      = "${local.config_mount_dir}/${local.config_file}"
      GOOGLE_CLOUD_PROJECT = var.project_id
      SYNTHMON_LOCATION    = region
      SYNTHMON_JOB         = var.service_name
      SYNTHMON_ALERT_TOPIC = google_pubsub_topic.alerts.name
      # One collection for every region: quorum counts the locations failing a check in one place.
      SYNTHMON_STATE = "firestore://${local.firestore_database}/${var.state_collection}"
    }, var.env)
  }

  # A majority of the regions unless set: a one-region fault is a warning, not a page.
  alert_quorum = coalesce(var.alert_quorum, floor(length(var.regions) / 2) + 1)

  labels = merge({ app = "synthmon" }, var.labels)
}

data "google_project" "this" {
  project_id = var.project_id
}

# The runtime identity: writes metrics, publishes alerts, keeps state, reads its own secrets. Nothing else.
resource "google_service_account" "runner" {
  project      = var.project_id
  account_id   = "${var.service_name}-runner"
  display_name = "synthmon prober (Cloud Run runtime)"
}

# The only identity the schedule uses; it holds run.invoker and nothing else.
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.service_name}-scheduler"
  display_name = "synthmon scheduler (invokes POST /run)"
}

# metricWriter has no narrower scope than the project.
resource "google_project_iam_member" "runner_metric_writer" {
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.runner.email}"
}

resource "google_project_iam_member" "runner_monitoring_viewer" {
  count   = var.read_connector_metrics ? 1 : 0
  project = var.project_id
  role    = "roles/monitoring.viewer"
  member  = "serviceAccount:${google_service_account.runner.email}"
}

# Firestore IAM can be conditioned on the database, so the runner reaches this database only.
resource "google_project_iam_member" "runner_datastore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.runner.email}"

  condition {
    title       = "synthmon-state-database-only"
    description = "Only the Firestore database that holds synthmon's alert state."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${local.firestore_database}\""
  }
}

resource "google_pubsub_topic_iam_member" "runner_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.alerts.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.runner.email}"
}

resource "google_secret_manager_secret_iam_member" "runner_secrets" {
  for_each  = var.secrets
  project   = var.project_id
  secret_id = each.value.secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runner.email}"
}

resource "google_secret_manager_secret_iam_member" "runner_config" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.config.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runner.email}"
}

# The config is not secret (secrets arrive as env vars), but Secret Manager is how Cloud Run mounts a
# file, and a pinned version makes every config change a new revision that can be rolled back.
resource "google_secret_manager_secret" "config" {
  project   = var.project_id
  secret_id = "${var.service_name}-config"
  labels    = local.labels

  replication {
    auto {}
  }
}

# The config as given, with alerting.locations (and quorum) from var.regions and var.alert_quorum.
resource "google_secret_manager_secret_version" "config" {
  secret      = google_secret_manager_secret.config.id
  secret_data = local.service_config_yaml
}
