output "cloud_config" {
  description = "The host's user data: a #cloud-config document that installs Python, writes the unit and starts it."
  value       = "#cloud-config\n${yamlencode(local.cloud_config)}"
}

output "unit_name" {
  description = "The systemd unit that runs the PEX."
  value       = local.unit_name
}

output "unit" {
  description = "Text of the systemd unit (also inside cloud_config)."
  value       = local.unit
}

output "prepare_script" {
  description = "Text of the script the unit runs as root before every start (also inside cloud_config)."
  value       = local.prepare_script
}

output "ready_script" {
  description = "Text of the script that completes the launch lifecycle hook, when there is one."
  value       = local.with_hook ? local.ready_script : ""
}

output "drain_script" {
  description = "Text of the watcher that drains the process when the autoscaling group terminates the host, when there is one."
  value       = local.with_drain ? local.drain_script : ""
}

output "page_dir" {
  description = "Where the host unpacks the web page (the folder var.page.env names); empty without a page."
  value       = local.page_dir
}
