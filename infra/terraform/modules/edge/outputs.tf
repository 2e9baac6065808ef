output "broker_target_group_arn" {
  description = "Target group the brokers' autoscaling group registers in."
  value       = aws_lb_target_group.broker.arn
}

output "broker_ws_target_group_arn" {
  description = "Target group of the brokers' WebSocket port (the same hosts)."
  value       = aws_lb_target_group.broker_ws.arn
}

output "brokerlist_target_group_arn" {
  description = "Target group the brokerlist hosts register in."
  value       = aws_lb_target_group.brokerlist.arn
}

output "broker_endpoint" {
  description = "The brokers' stable public entry (host:port)."
  value       = "${aws_lb.broker.dns_name}:${var.broker_port}"
}

output "brokerlist_dns_name" {
  description = "DNS name of the HTTPS load balancer: point brokerlist's public name (the certificate's) at it."
  value       = aws_lb.brokerlist.dns_name
}

output "brokerlist_zone_id" {
  description = "Hosted zone of the HTTPS load balancer, for a Route 53 alias record."
  value       = aws_lb.brokerlist.zone_id
}
