output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "The VPC's address range."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (brokers, internet-facing load balancers, NAT), one per zone."
  value       = aws_subnet.public[*].id
}

output "app_subnet_ids" {
  description = "Private subnets of the logic services, one per zone."
  value       = aws_subnet.app[*].id
}

output "app_subnet_cidrs" {
  description = "Address ranges of the app subnets, in the order of app_subnet_ids."
  value       = aws_subnet.app[*].cidr_block
}

output "data_subnet_ids" {
  description = "Private subnets of the data tier, one per zone."
  value       = aws_subnet.data[*].id
}

output "data_subnet_cidrs" {
  description = "Address ranges of the data subnets, in the order of data_subnet_ids."
  value       = aws_subnet.data[*].cidr_block
}

output "security_group_ids" {
  description = "Security group ids by role: alb, broker, service, pgpool, postgres, redis, sentinel, twemproxy, monitoring."
  value       = { for k, sg in aws_security_group.this : k => sg.id }
}

output "data_ports" {
  description = "Ports of the data tier the security groups open."
  value       = local.data_ports
}

output "app_fixed_cidrs" {
  description = "Reserved range of each app subnet for fixed addresses (yellow), in the order of app_subnet_ids."
  value       = [for r in aws_ec2_subnet_cidr_reservation.app_fixed : r.cidr_block]
}

output "data_fixed_cidrs" {
  description = "Reserved range of each data subnet for the data hosts' fixed addresses."
  value       = [for r in aws_ec2_subnet_cidr_reservation.data_fixed : r.cidr_block]
}

output "monitoring_ports" {
  description = "Ports of the exporters and of the monitoring host the security groups open."
  value       = local.monitoring_ports
}
