variable "project_id" {
  description = "Google Cloud project that runs synthmon (and receives its metrics, alerts and state)."
  type        = string
}

variable "regions" {
  description = <<-EOT
    Regions to run the prober in, keyed by region. Each region gets its own Cloud Run service and
    Scheduler job; all regions share one state collection (state_collection), so that a check pages
    only when it fails in alert_quorum of them. Metrics carry the region as the `location` label, and
    the config's `alerting.locations` is set to these keys. Per region, set
    either `vpc_connector` (Serverless VPC Access connector id or name) or `network`/`subnetwork`
    (Direct VPC egress) to reach private endpoints such as Cloud SQL; leave all null for none.
  EOT
  type = map(object({
    vpc_connector = optional(string)
    network       = optional(string)
    subnetwork    = optional(string)
    network_tags  = optional(list(string), [])
  }))
  default = {
    "us-central1" = {}
  }

  validation {
    condition     = length(var.regions) > 0
    error_message = "At least one region is required."
  }

  validation {
    condition = alltrue([
      for r in values(var.regions) : !(r.vpc_connector != null && (r.network != null || r.subnetwork != null))
    ])
    error_message = "Set either vpc_connector or network/subnetwork (Direct VPC egress) for a region, not both."
  }
}

variable "service_name" {
  description = "Name of the Cloud Run service in every region (also the `job` label of the metrics)."
  type        = string
  default     = "synthmon"
}

variable "image" {
  description = "Container image of synthmon, e.g. us-central1-docker.pkg.dev/PROJECT/synthmon/synthmon:TAG. Cloud Build rolls out later images; Terraform does not revert them."
  type        = string
}

variable "config_yaml" {
  description = "Content of synthmon.yaml, e.g. file(\"../examples/staging.yaml\") in a wrapper module or `terraform apply -var config_yaml=\"$(cat synthmon.yaml)\"`. Stored in Secret Manager and mounted read-only; keep secrets out of it and use `$${VAR}` with var.secrets instead."
  type        = string

  validation {
    condition     = can(yamldecode(var.config_yaml))
    error_message = "config_yaml must be valid YAML."
  }

  validation {
    # Terraform derives the request timeout and the Scheduler deadline from these (config.tf), so
    # where they are set they must be literal numbers, not $${VAR}.
    condition = can([
      for v in concat(
        [lookup(yamldecode(var.config_yaml), "run_timeout_s", 0)],
        [for k in ["timeout_s", "retries", "retry_delay_s", "interval_s"] : try(yamldecode(var.config_yaml).defaults[k], 0)],
        flatten([for c in try([for c in yamldecode(var.config_yaml).checks : c], []) : [
          for k in ["timeout_s", "retries", "retry_delay_s", "interval_s"] : lookup(c, k, 0)
        ]]),
      ) : tonumber(v)
    ])
    error_message = "run_timeout_s, and timeout_s, retries, retry_delay_s and interval_s (in defaults and in each check), must be literal numbers in config_yaml: Terraform derives the request timeout, the Scheduler deadline and the SLO windows from them."
  }
}

variable "env" {
  description = "Plain (non-secret) environment variables for the service, name => value. Values here are visible to anyone who can read the service; secrets belong in var.secrets."
  type        = map(string)
  default     = {}

  validation {
    # Same pattern as the config loader's list of secret-looking variable names (monitor/config.py).
    condition     = alltrue([for k in keys(var.env) : length(regexall("(?i)PASS|SECRET|TOKEN|KEY|DSN|CREDENTIAL|AUTH", k)) == 0])
    error_message = "A variable whose name looks like a secret (PASS, SECRET, TOKEN, KEY, DSN, CREDENTIAL, AUTH) must come from var.secrets, not var.env."
  }
}

variable "secrets" {
  description = "Secret Manager secrets exposed to the service as environment variables, env var name => {secret = secret id in project_id, version = \"latest\" or a number}. The config refers to them as $${NAME}."
  type = map(object({
    secret  = string
    version = optional(string, "latest")
  }))
  default = {}
}

variable "schedule" {
  description = "Cron schedule of POST /run (Cloud Scheduler syntax). Each check still runs only when its interval_s is due."
  type        = string
  default     = "* * * * *"
}

variable "time_zone" {
  description = "Time zone of the schedule."
  type        = string
  default     = "Etc/UTC"
}

variable "request_timeout_margin_s" {
  description = "Seconds the Cloud Run request timeout (and the Scheduler attempt deadline) exceed the run's bound (the config's run_timeout_s, else its longest check with retries), so a run can still publish and answer with its report."
  type        = number
  default     = 10

  validation {
    condition     = var.request_timeout_margin_s >= 5
    error_message = "request_timeout_margin_s must be at least 5 seconds."
  }
}

variable "ingress" {
  description = "Cloud Run ingress. INGRESS_TRAFFIC_ALL still requires an IAM-authorised identity token on every request; INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER or INGRESS_TRAFFIC_INTERNAL_ONLY also block on-call laptops and the Cloud Build gate unless they come through the VPC."
  type        = string
  default     = "INGRESS_TRAFFIC_ALL"

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.ingress)
    error_message = "ingress must be INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "cpu" {
  description = "CPU limit of the container. One vCPU runs 50 concurrent HTTP probes at well under 1 ms CPU each (bench/README.md)."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory limit of the container. An idle worker takes ~42 MiB and 100 concurrent probes add ~10 MiB; 512Mi is Cloud Run's floor for 1 vCPU with room for the Google clients."
  type        = string
  default     = "512Mi"
}

variable "cpu_always_allocated" {
  description = "Keep CPU allocated outside requests (instance-based billing). Not needed: a run waits for every check it started, so all work happens inside a request and request-based billing (cpu_idle = true) is the default; see README \"Cost\" for when instance-based is cheaper."
  type        = bool
  default     = false
}

variable "max_instance_count" {
  description = "Most Cloud Run instances per region. Above 1 is safe: a check in flight is leased in the shared state store, so two instances never run one check twice."
  type        = number
  default     = 2

  validation {
    condition     = var.max_instance_count >= 1 && floor(var.max_instance_count) == var.max_instance_count
    error_message = "max_instance_count must be a whole number, at least 1."
  }
}

variable "alert_quorum" {
  description = "Multi-region alerting: a check pages as `global` (its own severity) only when failing in at least this many regions, below it `regional` (warning). Written into the config as alerting.quorum; null leaves it to the config or the service's default, a majority of the regions (1 for one region)."
  type        = number
  default     = null

  validation {
    condition     = var.alert_quorum == null || try(var.alert_quorum >= 1 && floor(var.alert_quorum) == var.alert_quorum, false)
    error_message = "alert_quorum must be null or a whole number, at least 1 (run.tf also checks it is at most the number of regions)."
  }
}

variable "max_request_concurrency" {
  description = "Requests one instance serves at once: overlapping Scheduler calls (a golden path holds its /run for minutes) and on-call /probe calls share an instance instead of starting another."
  type        = number
  default     = 8
}

variable "oncall_members" {
  description = "IAM members allowed to call /probe and /status by hand, e.g. [\"group:oncall@example.com\"]. Never allUsers or allAuthenticatedUsers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.oncall_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "The service is private: allUsers and allAuthenticatedUsers are not allowed."
  }
}

variable "deployer_service_account" {
  description = "Email of the service account Cloud Build runs as. When set, it gets what cloudbuild.yaml needs: push to Artifact Registry, deploy revisions, act as the runtime service account, and invoke the service for the deploy gate. Null to manage those grants elsewhere."
  type        = string
  default     = null
}

variable "artifact_registry_repository" {
  description = "Artifact Registry repository (in artifact_registry_location) that holds the image; the deployer gets writer on it only."
  type        = string
  default     = "synthmon"
}

variable "artifact_registry_location" {
  description = "Location of the Artifact Registry repository."
  type        = string
  default     = "us-central1"
}

variable "alert_topic_name" {
  description = "Pub/Sub topic for alert events (sinks.alert_topic in the config; exposed to it as $${SYNTHMON_ALERT_TOPIC})."
  type        = string
  default     = "synthmon-alerts"
}

variable "alert_subscription_ack_deadline_s" {
  description = "Ack deadline of the consumer subscription on the alert topic."
  type        = number
  default     = 60
}

variable "kms_key_name" {
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for the alert topic and the BigQuery history (CMEK). Null uses Google-managed encryption; alert events carry no secrets (synthmon redacts them), so CMEK is a policy choice, not a need."
  type        = string
  default     = null
}

variable "bigquery_history" {
  description = "Write every alert event into BigQuery through a Pub/Sub BigQuery subscription (dataset and table created here)."
  type        = bool
  default     = false
}

variable "bigquery_dataset_id" {
  description = "BigQuery dataset for alert history when bigquery_history is true."
  type        = string
  default     = "synthmon"
}

variable "bigquery_location" {
  description = "Location of the BigQuery dataset."
  type        = string
  default     = "US"
}

variable "create_firestore_database" {
  description = "Create the Firestore (native mode) database for the alert state. False to use an existing one named firestore_database."
  type        = bool
  default     = true
}

variable "firestore_database" {
  description = "Firestore database that holds the alert state."
  type        = string
  default     = "(default)"
}

variable "firestore_location" {
  description = "Location of the Firestore database when it is created here (e.g. nam5, eur3, us-central1)."
  type        = string
  default     = "nam5"
}

variable "state_collection" {
  description = "Firestore collection of the alert state, shared by every region: one document per check holds each region's results, so quorum is decided in one transaction and regions never both fire or both resolve one alert."
  type        = string
  default     = "synthmon-state"
}

variable "read_connector_metrics" {
  description = "Grant roles/monitoring.viewer so synthmon can read Serverless VPC Access connector metrics. Off unless a check needs them."
  type        = bool
  default     = false
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) that every alert policy notifies."
  type        = list(string)
  default     = []
}

variable "alert_alignment_s" {
  description = "Alignment period of the paging policies on alert/firing. With alert_duration_s and one evaluation per minute it bounds the time from synthmon's decision to the incident (terraform/README.md \"Time to page\")."
  type        = number
  default     = 60
  validation {
    condition     = var.alert_alignment_s >= 60
    error_message = "alert_alignment_s must be at least 60 (the alerting minimum; see the check_failing policy's precondition)."
  }
}

variable "alert_duration_s" {
  description = "How long alert/firing must stay 1 before the incident opens. 0: synthmon already confirmed the failure (retries, failure_threshold)."
  type        = number
  default     = 0
}

variable "latency_slo_ms" {
  description = "Latency SLO per check type (mean over latency_window_s); a check type missing here has no latency alert. The golden path measures a whole agent run, 60-120 s."
  type        = map(number)
  default = {
    http      = 2000
    postgres  = 1000
    websocket = 180000
  }
}

variable "latency_window_s" {
  description = "Window over which check latency is averaged before it is compared with the SLO."
  type        = number
  default     = 900
}

variable "vpc_over_threshold_window_s" {
  description = "The VPC alert fires when every run in this window measured a round trip over the check's vpc_latency_threshold_ms."
  type        = number
  default     = 300
}

variable "vpc_latency_threshold_ms" {
  description = "Threshold line drawn on the dashboard's VPC round-trip chart; keep it equal to vpc_latency_threshold_ms in the config."
  type        = number
  default     = 100
}

variable "events_missing_window_s" {
  description = "Window in which the golden path reporting ws_event_missing alerts (and in which agent_completed must have arrived at least once)."
  type        = number
  default     = 900
}

variable "cert_min_days" {
  description = "Alert when a certificate expires in fewer days than this."
  type        = number
  default     = 14
}

variable "heartbeat_absent_s" {
  description = "Alert when run/duration_ms, written by every run, has been absent this long in a region: the monitor itself stopped."
  type        = number
  default     = 300

  validation {
    condition     = var.heartbeat_absent_s >= 120 && var.heartbeat_absent_s % 60 == 0
    error_message = "heartbeat_absent_s must be a whole number of minutes, at least 120 (a Cloud Monitoring absence rule)."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "metric_alert_policies" {
  description = "Also create the metric-threshold policies (latency over SLO, VPC round trip, golden-path events missing, certificate expiry) beside the alert/firing ones. Off by default: each of those faults is already a failure class that synthmon pages on through alert/firing, so they would page twice for one outage and cost $1.50 per condition per month."
  type        = bool
  default     = false
}
