output "files" {
  description = "The monitoring host's configuration by path under /etc/highnoon/monitoring: Prometheus (config, rules, file_sd targets), Alertmanager, Grafana provisioning and dashboards."
  value       = local.files
}

output "bundle_hash" {
  description = "A digest of every file: a new one means a new configuration (the root keys the S3 upload by it)."
  value       = sha256(jsonencode(local.files))
}

output "cloud_config" {
  description = "User data of the monitoring host: packages, the log host's units, the boot script that installs the bundle and Grafana."
  value       = local.cloud_config
}

output "init_script" {
  description = "The boot script (also inside cloud_config)."
  value       = local.init
}
