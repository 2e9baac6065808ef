output "autoscaling_group_name" {
  description = "The autoscaler's own hosts (it never sizes this group)."
  value       = module.service.autoscaling_group_name
}

output "sized_groups" {
  description = "The groups it sizes, by service."
  value       = local.groups
}

output "role_name" {
  description = "The hosts' IAM role, with the autoscaling grants on the sized groups."
  value       = module.service.role_name
}

output "config" {
  description = "The configuration the autoscaler runs with (HN_AUTOSCALE_CONFIG), for review in plans."
  value       = jsonencode(local.config)
}

output "ssm_env_path" {
  description = "Where the autoscaler's secret environment goes in SSM Parameter Store."
  value       = module.service.ssm_env_path
}
