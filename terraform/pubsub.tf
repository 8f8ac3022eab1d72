resource "google_pubsub_topic" "alerts" {
  project                    = var.project_id
  name                       = var.alert_topic_name
  labels                     = local.labels
  kms_key_name               = var.kms_key_name
  message_retention_duration = "604800s"
}

# For consumers (a chat bot, a ticketing bridge): alert events are rare, so keep them a week.
resource "google_pubsub_subscription" "alerts" {
  project                    = var.project_id
  name                       = "${var.alert_topic_name}-consumers"
  topic                      = google_pubsub_topic.alerts.id
  labels                     = local.labels
  ack_deadline_seconds       = var.alert_subscription_ack_deadline_s
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_bigquery_dataset" "history" {
  #checkov:skip=CKV_GCP_81:CMEK is opt-in through var.kms_key_name; the rows are redacted alert events.
  count         = var.bigquery_history ? 1 : 0
  project       = var.project_id
  dataset_id    = var.bigquery_dataset_id
  location      = var.bigquery_location
  description   = "synthmon alert events, written by a Pub/Sub BigQuery subscription"
  labels        = local.labels
  friendly_name = "synthmon history"

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_bigquery_table" "alert_events" {
  #checkov:skip=CKV_GCP_80:CMEK is opt-in through var.kms_key_name; the rows are redacted alert events.
  #checkov:skip=CKV_GCP_121:Alert history is append-only and rebuildable from the topic; deletion protection would block terraform destroy of an optional feature.
  count               = var.bigquery_history ? 1 : 0
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.history[0].dataset_id
  table_id            = "alert_events"
  description         = "One row per alert event published on ${var.alert_topic_name}; data is the JSON body, attributes hold check/state/severity."
  labels              = local.labels
  deletion_protection = false

  dynamic "encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_configuration.value
    }
  }

  time_partitioning {
    type  = "DAY"
    field = "publish_time"
  }

  # The schema a BigQuery subscription writes with write_metadata = true and no topic schema.
  schema = jsonencode([
    { name = "subscription_name", type = "STRING", mode = "NULLABLE" },
    { name = "message_id", type = "STRING", mode = "NULLABLE" },
    { name = "publish_time", type = "TIMESTAMP", mode = "NULLABLE" },
    { name = "data", type = "STRING", mode = "NULLABLE" },
    { name = "attributes", type = "STRING", mode = "NULLABLE" },
  ])
}

# The Pub/Sub service agent writes the rows.
resource "google_bigquery_table_iam_member" "pubsub_writer" {
  count      = var.bigquery_history ? 1 : 0
  project    = var.project_id
  dataset_id = google_bigquery_table.alert_events[0].dataset_id
  table_id   = google_bigquery_table.alert_events[0].table_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_subscription" "history" {
  count   = var.bigquery_history ? 1 : 0
  project = var.project_id
  name    = "${var.alert_topic_name}-bigquery"
  topic   = google_pubsub_topic.alerts.id
  labels  = local.labels

  bigquery_config {
    table            = "${var.project_id}.${google_bigquery_table.alert_events[0].dataset_id}.${google_bigquery_table.alert_events[0].table_id}"
    use_topic_schema = false
    write_metadata   = true
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_bigquery_table_iam_member.pubsub_writer]
}
