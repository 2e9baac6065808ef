output "env" {
  description = "Non-secret environment for the unit (hn-service's environment_variables): the addresses, the role, and the paths of the password files."
  value       = local.env
}

output "ssm_files" {
  description = "The password files (file name => SecureString name), for hn-service's extra_ssm_files."
  value       = local.files
}
