resource "google_cloud_run_v2_service" "synthmon" {
  for_each = var.regions

  project     = var.project_id
  name        = var.service_name
  location    = each.key
  description = "synthmon synthetic monitor (${each.key}); private, invoked by Cloud Scheduler and on-call"
  ingress     = var.ingress
  labels      = local.labels

  template {
    service_account                  = google_service_account.runner.email
    timeout                          = "${local.request_timeout_s}s"
    max_instance_request_concurrency = var.max_request_concurrency
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    labels                           = local.labels

    # Scale to zero between Scheduler calls. More than one instance is safe: a check in flight is
    # leased in the shared state store, so no check runs twice.
    scaling {
      min_instance_count = 0
      max_instance_count = var.max_instance_count
    }

    dynamic "vpc_access" {
      for_each = each.value.vpc_connector != null || each.value.network != null || each.value.subnetwork != null ? [each.value] : []
      content {
        connector = vpc_access.value.vpc_connector
        # Only private ranges go through the VPC: switching staging to all-traffic once turned database
        # round trips into 15 s timeouts, and public targets must not depend on the connector.
        egress = "PRIVATE_RANGES_ONLY"

        dynamic "network_interfaces" {
          for_each = vpc_access.value.vpc_connector == null ? [vpc_access.value] : []
          content {
            network    = network_interfaces.value.network
            subnetwork = network_interfaces.value.subnetwork
            tags       = network_interfaces.value.network_tags
          }
        }
      }
    }

    containers {
      name  = "synthmon"
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        cpu_idle          = !var.cpu_always_allocated
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.env[each.key]
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value.secret
              version = env.value.version
            }
          }
        }
      }

      volume_mounts {
        name       = "config"
        mount_path = local.config_mount_dir
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 2
        failure_threshold = 15
        timeout_seconds   = 2
      }

      # No liveness probe: a golden path legitimately keeps request threads busy for minutes, and a
      # restart would abandon the runs in flight. A crashed process is restarted by Cloud Run anyway.
    }

    volumes {
      name = "config"
      secret {
        secret = google_secret_manager_secret.config.secret_id
        items {
          version = google_secret_manager_secret_version.config.version
          path    = local.config_file
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  lifecycle {
    # cloudbuild.yaml rolls out new images through a tagged, gated revision and then moves traffic;
    # Terraform must not roll those back on the next apply.
    ignore_changes = [
      template[0].containers[0].image,
      traffic,
      client,
      client_version,
    ]

    precondition {
      condition     = local.request_timeout_s > local.run_timeout_s && local.request_timeout_s <= 3600
      error_message = "The request timeout must exceed the run's bound (run_timeout_s, or the longest check with its retries) and stay within Cloud Run's 3600 s limit."
    }

    precondition {
      condition     = var.alert_quorum == null || try(var.alert_quorum <= length(var.regions), false)
      error_message = "alert_quorum cannot exceed the number of regions: no check could ever page as global."
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.runner_secrets,
    google_secret_manager_secret_iam_member.runner_config,
  ]
}

# Private service: invokers are the scheduler's identity, on-call, and the deploy gate. Never allUsers.
resource "google_cloud_run_v2_service_iam_member" "scheduler_invoker" {
  for_each = google_cloud_run_v2_service.synthmon
  project  = var.project_id
  location = each.value.location
  name     = each.value.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_run_v2_service_iam_member" "oncall_invoker" {
  for_each = {
    for pair in setproduct(keys(var.regions), var.oncall_members) : "${pair[0]}/${pair[1]}" => {
      region = pair[0]
      member = pair[1]
    }
  }
  project  = var.project_id
  location = each.value.region
  name     = google_cloud_run_v2_service.synthmon[each.value.region].name
  role     = "roles/run.invoker"
  member   = each.value.member
}
