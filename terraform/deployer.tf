# What cloudbuild.yaml needs, granted on the narrowest resource that allows it.

resource "google_artifact_registry_repository_iam_member" "deployer_writer" {
  count      = var.deployer_service_account == null ? 0 : 1
  project    = var.project_id
  location   = var.artifact_registry_location
  repository = var.artifact_registry_repository
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${var.deployer_service_account}"
}

resource "google_cloud_run_v2_service_iam_member" "deployer_developer" {
  for_each = var.deployer_service_account == null ? {} : google_cloud_run_v2_service.synthmon
  project  = var.project_id
  location = each.value.location
  name     = each.value.name
  role     = "roles/run.developer"
  member   = "serviceAccount:${var.deployer_service_account}"
}

# The gate calls the candidate revision's /healthz and a dry-run /probe with its own identity token.
resource "google_cloud_run_v2_service_iam_member" "deployer_invoker" {
  for_each = var.deployer_service_account == null ? {} : google_cloud_run_v2_service.synthmon
  project  = var.project_id
  location = each.value.location
  name     = each.value.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.deployer_service_account}"
}

# Deploying a revision that runs as the runner account requires actAs on that account only.
resource "google_service_account_iam_member" "deployer_acts_as_runner" {
  count              = var.deployer_service_account == null ? 0 : 1
  service_account_id = google_service_account.runner.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${var.deployer_service_account}"
}

resource "google_project_iam_member" "deployer_log_writer" {
  count   = var.deployer_service_account == null ? 0 : 1
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${var.deployer_service_account}"
}
