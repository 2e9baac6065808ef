# The VPC of one environment: public subnets for the edge (brokers, load balancers, NAT), private
# "app" subnets for the logic services, private "data" subnets for PostgreSQL, Pgpool, Redis,
# Sentinel and Twemproxy; and the security groups, whose only openings to the internet are the
# broker port and brokerlist's HTTPS.

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:The zones used are the first az_count names, which stay the same when AWS adds a zone; subnets pin their zone once created.
  state = "available"
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # /24 public subnets from .0, /20 app subnets from .16, /24 data subnets from .200 (for a /16).
  public_cidrs = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 8, i)]
  app_cidrs    = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 4, 1 + i)]
  data_cidrs   = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 8, 200 + i)]

  # The data tier's ports: the software's usual ones, also used by modules/data-tier.
  data_ports = {
    postgres      = 5432
    pgpool        = 9999
    redis         = 6379
    sentinel      = 26379
    twemproxy     = 22121
    agent_metrics = 9101
  }

  # Monitoring (infra/terraform/monitoring): the data tier's exporters, and the monitoring host's
  # own faces (Prometheus, Alertmanager, Grafana, and as log host the journal upload and gateway).
  monitoring_ports = {
    postgres_exporter = 9187
    redis_exporter    = 9121
    prometheus        = 9090
    alertmanager      = 9093
    grafana           = 3000
    log_upload        = 19532
    log_gateway       = 19531
  }

  anywhere = "0.0.0.0/0"
  groups = {
    alb        = "brokerlist's HTTPS load balancer: 443 from the internet"
    broker     = "broker hosts: the client port from the internet, ZeroMQ and metrics from the VPC"
    service    = "logic service hosts (yellow, brokerlist, sso, match, ...): ZeroMQ, metrics and HTTP from the VPC"
    yellow     = "yellow hosts, beside service: a source only, for what yellow alone reaches (the Sentinels, for its status page)"
    pgpool     = "Pgpool-II hosts: the pool port from the VPC (services and the internal NLB)"
    postgres   = "PostgreSQL hosts: from Pgpool and from each other (replication)"
    redis      = "Redis shard nodes: from Twemproxy, Sentinel and each other (replication)"
    sentinel   = "Redis Sentinels: from each other, from the Twemproxy agents and from yellow (its status page)"
    twemproxy  = "Twemproxy hosts with the Sentinel agent: the proxy port and agent metrics from the VPC"
    monitoring = "the monitoring host (Prometheus, Alertmanager, Grafana) and log host: their web faces and journal uploads from the VPC"
  }

  # One row per ingress rule: a CIDR source or a security group source. Only the first three rows
  # face the internet; tests/test_structure.py holds every rule to that.
  ingress = {
    alb_https_public        = { sg = "alb", from = 443, to = 443, cidr = local.anywhere, source = null, what = "HTTPS from game clients to brokerlist" }
    broker_clients_public   = { sg = "broker", from = var.broker_port, to = var.broker_port, cidr = local.anywhere, source = null, what = "game client connections" }
    broker_websocket_public = { sg = "broker", from = var.broker_ws_port, to = var.broker_ws_port, cidr = local.anywhere, source = null, what = "game client WebSocket connections (browsers)" }
    broker_zmq_vpc          = { sg = "broker", from = var.service_ports.rep, to = var.service_ports.pub, cidr = var.vpc_cidr, source = null, what = "ZeroMQ rep/pull/pub from the VPC (pushes to players)" }
    broker_metrics_vpc      = { sg = "broker", from = var.service_ports.metrics, to = var.service_ports.metrics, cidr = var.vpc_cidr, source = null, what = "Prometheus metrics" }
    service_zmq_vpc         = { sg = "service", from = var.service_ports.rep, to = var.service_ports.pub, cidr = var.vpc_cidr, source = null, what = "ZeroMQ rep/pull/pub between services" }
    service_metrics_vpc     = { sg = "service", from = var.service_ports.metrics, to = var.service_ports.metrics, cidr = var.vpc_cidr, source = null, what = "Prometheus metrics" }
    service_http_alb        = { sg = "service", from = var.service_ports.http, to = var.service_ports.http, cidr = null, source = "alb", what = "brokerlist behind the HTTPS load balancer" }
    service_http_vpc        = { sg = "service", from = var.service_ports.http, to = var.service_ports.http, cidr = var.vpc_cidr, source = null, what = "HTTP faces inside (yellow's status page and Prometheus discovery)" }
    pgpool_vpc              = { sg = "pgpool", from = local.data_ports.pgpool, to = local.data_ports.pgpool, cidr = var.vpc_cidr, source = null, what = "HN_PG_DSN through the internal NLB, which keeps client addresses" }
    postgres_from_pgpool    = { sg = "postgres", from = local.data_ports.postgres, to = local.data_ports.postgres, cidr = null, source = "pgpool", what = "Pgpool backends" }
    postgres_replication    = { sg = "postgres", from = local.data_ports.postgres, to = local.data_ports.postgres, cidr = null, source = "postgres", what = "streaming replication" }
    redis_from_twemproxy    = { sg = "redis", from = local.data_ports.redis, to = local.data_ports.redis, cidr = null, source = "twemproxy", what = "Twemproxy's server connections" }
    redis_from_sentinel     = { sg = "redis", from = local.data_ports.redis, to = local.data_ports.redis, cidr = null, source = "sentinel", what = "Sentinel monitoring and promotion" }
    redis_replication       = { sg = "redis", from = local.data_ports.redis, to = local.data_ports.redis, cidr = null, source = "redis", what = "replication" }
    sentinel_peers          = { sg = "sentinel", from = local.data_ports.sentinel, to = local.data_ports.sentinel, cidr = null, source = "sentinel", what = "Sentinels among themselves" }
    sentinel_from_twemproxy = { sg = "sentinel", from = local.data_ports.sentinel, to = local.data_ports.sentinel, cidr = null, source = "twemproxy", what = "the agent follows +switch-master" }
    sentinel_from_yellow    = { sg = "sentinel", from = local.data_ports.sentinel, to = local.data_ports.sentinel, cidr = null, source = "yellow", what = "yellow's status page asks each Sentinel (SENTINEL MASTERS, REPLICAS, INFO-CACHE)" }
    twemproxy_vpc           = { sg = "twemproxy", from = local.data_ports.twemproxy, to = local.data_ports.twemproxy, cidr = var.vpc_cidr, source = null, what = "HN_REDIS_URL through the internal NLB, which keeps client addresses" }
    twemproxy_agent_metrics = { sg = "twemproxy", from = local.data_ports.agent_metrics, to = local.data_ports.agent_metrics, cidr = var.vpc_cidr, source = null, what = "agent metrics" }
    postgres_exporter       = { sg = "postgres", from = local.monitoring_ports.postgres_exporter, to = local.monitoring_ports.postgres_exporter, cidr = null, source = "monitoring", what = "prometheus-postgres-exporter, for Prometheus" }
    pgpool_exporter         = { sg = "pgpool", from = local.monitoring_ports.postgres_exporter, to = local.monitoring_ports.postgres_exporter, cidr = null, source = "monitoring", what = "prometheus-postgres-exporter on Pgpool, for Prometheus" }
    redis_exporter          = { sg = "redis", from = local.monitoring_ports.redis_exporter, to = local.monitoring_ports.redis_exporter, cidr = null, source = "monitoring", what = "prometheus-redis-exporter, for Prometheus" }
    monitoring_prometheus   = { sg = "monitoring", from = local.monitoring_ports.prometheus, to = local.monitoring_ports.prometheus, cidr = var.vpc_cidr, source = null, what = "Prometheus' web and API (operators, the autoscaler's signals)" }
    monitoring_alertmanager = { sg = "monitoring", from = local.monitoring_ports.alertmanager, to = local.monitoring_ports.alertmanager, cidr = var.vpc_cidr, source = null, what = "Alertmanager's web (silences)" }
    monitoring_grafana      = { sg = "monitoring", from = local.monitoring_ports.grafana, to = local.monitoring_ports.grafana, cidr = var.vpc_cidr, source = null, what = "Grafana" }
    log_upload_vpc          = { sg = "monitoring", from = local.monitoring_ports.log_upload, to = local.monitoring_ports.log_upload, cidr = var.vpc_cidr, source = null, what = "systemd-journal-upload from every host" }
    log_gateway_vpc         = { sg = "monitoring", from = local.monitoring_ports.log_gateway, to = local.monitoring_ports.log_gateway, cidr = var.vpc_cidr, source = null, what = "systemd-journal-gatewayd: hn logs --from" }
  }

  nat_count = var.single_nat_gateway ? 1 : var.az_count

  # Ranges AWS never hands out on its own: the fixed addresses live there (yellow in the app
  # subnets, every data host in the data subnets), so an autoscaled host or a load balancer node
  # cannot take an address while its owner is being replaced.
  app_fixed_cidrs  = [for c in local.app_cidrs : cidrsubnet(c, 8, 0)]
  data_fixed_cidrs = [for c in local.data_cidrs : cidrsubnet(c, 1, 0)]
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Flow logs are not part of this first cut (see infra/terraform/README.md, "Left out"); the data subnets are reachable only from inside the VPC.
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# The default group of a new VPC lets all members talk to each other: nothing may use it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count             = var.az_count
  vpc_id            = aws_vpc.this.id
  cidr_block        = local.public_cidrs[count.index]
  availability_zone = local.azs[count.index]
  # Brokers ask for their public address in the launch template; nothing else gets one.
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}", "highnoon:tier" = "public" })
}

resource "aws_subnet" "app" {
  count             = var.az_count
  vpc_id            = aws_vpc.this.id
  cidr_block        = local.app_cidrs[count.index]
  availability_zone = local.azs[count.index]
  tags              = merge(var.tags, { Name = "${var.name}-app-${local.azs[count.index]}", "highnoon:tier" = "app" })
}

resource "aws_subnet" "data" {
  count             = var.az_count
  vpc_id            = aws_vpc.this.id
  cidr_block        = local.data_cidrs[count.index]
  availability_zone = local.azs[count.index]
  tags              = merge(var.tags, { Name = "${var.name}-data-${local.azs[count.index]}", "highnoon:tier" = "data" })
}

resource "aws_ec2_subnet_cidr_reservation" "app_fixed" {
  count            = var.az_count
  subnet_id        = aws_subnet.app[count.index].id
  cidr_block       = local.app_fixed_cidrs[count.index]
  reservation_type = "explicit"
  description      = "fixed addresses (yellow)"
}

resource "aws_ec2_subnet_cidr_reservation" "data_fixed" {
  count            = var.az_count
  subnet_id        = aws_subnet.data[count.index].id
  cidr_block       = local.data_fixed_cidrs[count.index]
  reservation_type = "explicit"
  description      = "fixed addresses (every data host)"
}

resource "aws_eip" "nat" {
  count  = local.nat_count
  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })
}

resource "aws_nat_gateway" "this" {
  count         = local.nat_count
  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = local.anywhere
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count          = var.az_count
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# Private subnets reach the outside (Debian packages, SSM) through their zone's NAT gateway.
resource "aws_route_table" "private" {
  count  = var.az_count
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}" })
}

resource "aws_route" "private_nat" {
  count                  = var.az_count
  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = local.anywhere
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

resource "aws_route_table_association" "app" {
  count          = var.az_count
  subnet_id      = aws_subnet.app[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

resource "aws_route_table_association" "data" {
  count          = var.az_count
  subnet_id      = aws_subnet.data[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

data "aws_region" "current" {}

# PEX downloads go straight to S3, not through (and billed by) the NAT gateways.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = concat([aws_route_table.public.id], aws_route_table.private[*].id)
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:The groups are attached in other roots: the data tier's hosts here, the services' hosts in infra/terraform/services/* (through the SSM contract), which checkov scans apart.
  for_each    = local.groups
  name        = "${var.name}-${each.key}"
  description = each.value
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each                     = local.ingress
  security_group_id            = aws_security_group.this[each.value.sg].id
  description                  = each.value.what
  ip_protocol                  = "tcp"
  from_port                    = each.value.from
  to_port                      = each.value.to
  cidr_ipv4                    = each.value.cidr
  referenced_security_group_id = each.value.source == null ? null : aws_security_group.this[each.value.source].id
  tags                         = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

# Hosts reach Debian mirrors, S3 and SSM; the load balancer reaches only its targets.
resource "aws_vpc_security_group_egress_rule" "hosts" {
  #checkov:skip=CKV_AWS_382:Hosts install Debian packages and call S3, SSM and Auto Scaling through NAT at boot; their endpoints have no fixed addresses to list.
  for_each          = { for k, v in local.groups : k => v if k != "alb" }
  security_group_id = aws_security_group.this[each.key].id
  description       = "all outbound"
  ip_protocol       = "-1"
  cidr_ipv4         = local.anywhere
}

resource "aws_vpc_security_group_egress_rule" "alb" {
  security_group_id = aws_security_group.this["alb"].id
  description       = "to brokerlist's HTTP port"
  ip_protocol       = "tcp"
  from_port         = var.service_ports.http
  to_port           = var.service_ports.http
  cidr_ipv4         = var.vpc_cidr
}
