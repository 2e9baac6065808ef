output "prometheus_url" {
  description = "Prometheus, from inside the VPC."
  value       = "http://${aws_instance.monitoring.private_ip}:9090"
}

output "grafana_url" {
  description = "Grafana, from inside the VPC (admin password: grafana_admin_parameter)."
  value       = "http://${aws_instance.monitoring.private_ip}:3000"
}

output "log_host_url" {
  description = "The log host's journal gateway: `hn logs --from <this> --trace ID`."
  value       = "http://${aws_instance.monitoring.private_ip}:19531"
}
