variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "environment" {
  description = "Environment to deploy to (staging, prod): picks the platform contract under /highnoon/<environment>/platform."
  type        = string
}

variable "alert_receiver_name" {
  description = "Name of the Alertmanager receiver every alert goes to."
  type        = string
  default     = "oncall"
}

variable "alert_receiver" {
  description = "That receiver, as in alertmanager.yml without its name (webhook_configs, slack_configs, email_configs, ...). Credentials through *_file fields and alert_credential_files, never here."
  type        = any
}

variable "alert_credential_files" {
  description = "Files the host writes from SSM SecureStrings at boot (absolute path => parameter name) for the receiver's *_file fields."
  type        = map(string)
  default     = {}
}

variable "grafana_admin_parameter" {
  description = "SSM SecureString holding Grafana's admin password (an operator creates it, README)."
  type        = string
}

variable "retention" {
  description = "How long Prometheus keeps samples."
  type        = string
  default     = "30d"
}

variable "instance_type" {
  description = "EC2 instance type of the monitoring host."
  type        = string
  default     = "t3.large"
}

variable "volume_gb" {
  description = "Root volume size: Prometheus' samples and the received journals live there."
  type        = number
  default     = 200
}

variable "ami_id" {
  description = "AMI of the host; empty: the newest Debian 12 image."
  type        = string
  default     = ""
}
