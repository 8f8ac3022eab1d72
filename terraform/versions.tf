terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 5.11 added `severity` to google_monitoring_alert_policy.
      version = ">= 5.11"
    }
  }
}

provider "google" {
  project = var.project_id
}
