# Every optional resource switched on, so that checkov sees all of them (terraform/checkov.sh).
project_id                = "synthmon-example"
image                     = "us-central1-docker.pkg.dev/synthmon-example/synthmon/synthmon:example"
config_yaml               = "location: $${SYNTHMON_LOCATION}\nrun_timeout_s: 50\n"
bigquery_history          = true
create_firestore_database = true
read_connector_metrics    = true
deployer_service_account  = "synthmon-deployer@synthmon-example.iam.gserviceaccount.com"
oncall_members            = ["group:oncall@example.com"]
secrets = {
  PROBE_PASSWORD = { secret = "synthmon-probe-password" }
}
regions = {
  "us-central1"  = { vpc_connector = "projects/synthmon-example/locations/us-central1/connectors/staging" }
  "europe-west1" = { network = "staging", subnetwork = "staging-europe-west1" }
}
