variable "environment" {
  description = "Environment name (staging, prod)."
  type        = string
}

variable "yellow_ips" {
  description = "The yellow servers' fixed addresses (the platform contract's yellow_private_ips): Prometheus discovers every instance through their /sd."
  type        = list(string)
}

variable "service_ports" {
  description = "The services' HTTP port (yellow's /sd) and metrics port (yellow's own metrics), as modules/hn-service fixes them."
  type = object({
    http    = number
    metrics = number
  })
  default = {
    http    = 8080
    metrics = 9100
  }
}

variable "targets" {
  description = "The data tier's scrape targets (the platform contract's monitoring_targets): file_sd groups for the postgres, pgpool and redis jobs, and the Twemproxy agents' metrics addresses."
  type = object({
    postgres         = list(object({ targets = list(string), labels = map(string) }))
    pgpool           = list(object({ targets = list(string), labels = map(string) }))
    redis            = list(object({ targets = list(string), labels = map(string) }))
    twemproxy_agents = list(string)
  })
}

variable "alert_receiver_name" {
  description = "Name of the Alertmanager receiver every alert is routed to."
  type        = string
  default     = "oncall"
}

variable "alert_receiver" {
  description = "The Alertmanager receiver every alert goes to, as in alertmanager.yml without its name, e.g. { webhook_configs = [{ url = \"https://...\" }] } or { slack_configs = [{ api_url_file = \"/etc/highnoon/monitoring-secrets/slack\", channel = \"#hn-alerts\" }] }. Credentials go through *_file fields and alert_credential_files, never here."
  type        = any
}

variable "alert_credential_files" {
  description = "Files the monitoring host writes from SSM SecureStrings at boot (absolute path => parameter name), for the receiver's *_file fields (readable by Alertmanager's user only)."
  type        = map(string)
  default     = {}
}

variable "grafana_admin_parameter" {
  description = "SSM SecureString holding Grafana's admin password (read at boot into a root-only file)."
  type        = string
}

variable "grafana_version" {
  description = "Grafana's Debian package version, from Grafana Labs' APT repository (Debian has no Grafana)."
  type        = string
  default     = "11.6.1"
}

variable "retention" {
  description = "How long Prometheus keeps samples."
  type        = string
  default     = "30d"
}

variable "bundle_s3_uri" {
  description = "Where the monitoring root uploaded `files` (s3://bucket/prefix/): the host copies it to /etc/highnoon/monitoring at boot."
  type        = string
}
