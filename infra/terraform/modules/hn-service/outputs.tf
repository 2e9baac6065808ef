output "name" {
  description = "Name of the service's resources (hn-<environment>-<service>)."
  value       = local.name
}

output "autoscaling_group_name" {
  description = "The autoscaling group (empty for fixed-address services)."
  value       = local.fixed ? "" : aws_autoscaling_group.hosts[0].name
}

output "drain_hook_name" {
  description = "The termination lifecycle hook the autoscaler completes once a host drained (empty: none)."
  value       = local.drain_hook ? aws_autoscaling_lifecycle_hook.drain[0].name : ""
}

output "instance_ids" {
  description = "The fixed-address instances (empty for autoscaled services)."
  value       = aws_instance.fixed[*].id
}

output "private_ips" {
  description = "Addresses of the fixed-address instances."
  value       = aws_instance.fixed[*].private_ip
}

output "role_name" {
  description = "The hosts' IAM role, for extra grants from the service's root."
  value       = aws_iam_role.host.name
}

output "ssm_env_path" {
  description = "Where the service's secret (and other) environment lives in SSM Parameter Store."
  value       = local.ssm_env_path
}

output "artifact" {
  description = "The S3 key of the release the hosts run."
  value       = "s3://${var.artifact_bucket}/${local.artifact_key}"
}

output "page_artifact" {
  description = "The S3 key of the web page the hosts serve (empty: none)."
  value       = var.page == null ? "" : "s3://${var.artifact_bucket}/${local.page_key}"
}

output "unit" {
  description = "The rendered systemd unit, for review in plans."
  value       = module.unit.unit
}
