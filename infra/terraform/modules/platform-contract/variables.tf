variable "environment" {
  description = "Environment whose contract to read (/highnoon/<environment>/platform/*, written by envs/<environment>)."
  type        = string
}
