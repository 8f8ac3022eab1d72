# One document per check and region, updated in a transaction so two overlapping runs cannot both fire.
resource "google_firestore_database" "state" {
  count                   = var.create_firestore_database ? 1 : 0
  project                 = var.project_id
  name                    = var.firestore_database
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  concurrency_mode        = "PESSIMISTIC"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  # A project's (default) database may hold more than synthmon's state: never delete it on destroy.
  deletion_policy = "ABANDON"
}

# The history (monitor/history_firestore.py): one document per result in `synthmon-history`, shared
# by every region. Its queries need these composite indexes (the emulator needs none): the last
# results of a check, its last failures, and the per-location counts of a window.
locals {
  history_collection = "synthmon-history"
  history_indexes = {
    recent          = [["check", "ASCENDING"], ["ts", "DESCENDING"]]
    recent_failures = [["check", "ASCENDING"], ["ok", "ASCENDING"], ["ts", "DESCENDING"]]
    counts          = [["check", "ASCENDING"], ["location", "ASCENDING"], ["ts", "ASCENDING"]]
    failure_counts  = [["check", "ASCENDING"], ["location", "ASCENDING"], ["ok", "ASCENDING"], ["ts", "ASCENDING"]]
  }
}

resource "google_firestore_index" "history" {
  for_each   = local.history_indexes
  project    = var.project_id
  database   = local.firestore_database
  collection = local.history_collection

  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}

# A backstop for the service's own pruning (sinks.history_days): documents carry `expire_at`.
resource "google_firestore_field" "history_ttl" {
  project    = var.project_id
  database   = local.firestore_database
  collection = local.history_collection
  field      = "expire_at"

  ttl_config {}
}
