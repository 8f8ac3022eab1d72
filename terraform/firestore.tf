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
