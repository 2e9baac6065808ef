# The edge: game clients reach brokerlist over HTTPS (an application load balancer) and the
# brokers over TCP and WebSocket (a network load balancer, which keeps client addresses for the
# brokers' rate limits). brokerlist hands out each broker's own public address, chosen by load; the
# NLB's name is the stable entry for clients that have no list yet, and its health checks decide
# when the brokers' autoscaling group replaces a host. The target groups are filled by the
# services' own roots (infra/terraform/services/broker, .../brokerlist).
#
# Where TLS ends: at the brokers. Clients connect to the address brokerlist gives them, a broker's
# own, which no load balancer stands in front of; so the NLB's listeners are plain TCP and pass
# TLS through to the same brokers (a TLS listener here would only cover the fallback entry, and
# would hide the client's address from the broker's per-address cap). The brokers' certificate and
# key are SecureString parameters the broker root fetches into files on each host
# (services/broker: tls_certificate_parameter, tls_key_parameter); ACM certificates cannot leave
# AWS's load balancers, so they do not fit. brokerlist's own HTTPS ends at its ALB, with ACM.

resource "aws_lb" "broker" {
  #checkov:skip=CKV_AWS_150:Deletion protection follows var.deletion_protection: on by default and in prod, off in staging so that it can be torn down.
  #checkov:skip=CKV_AWS_91:The broker NLB carries raw TCP game traffic; connection counts and errors are in the brokers' metrics, and NLB access logs only exist for TLS listeners.
  name                             = "${var.name}-broker"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = var.public_subnet_ids
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
  tags                             = var.tags
}

resource "aws_lb_target_group" "broker" {
  name        = "${var.name}-broker"
  vpc_id      = var.vpc_id
  target_type = "instance"
  protocol    = "TCP"
  port        = var.broker_port
  # Game connections are long: a draining broker keeps them while it finishes in-flight calls.
  deregistration_delay   = var.drain_seconds + 5
  connection_termination = false
  preserve_client_ip     = true

  health_check {
    protocol            = "TCP"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "broker" {
  load_balancer_arn = aws_lb.broker.arn
  protocol          = "TCP"
  port              = var.broker_port

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.broker.arn
  }

  tags = var.tags
}

# The brokers' WebSocket port (browsers, the TypeScript SDK): ws://, or wss:// with a certificate
# on the brokers (passed through, as above).
resource "aws_lb_target_group" "broker_ws" {
  name        = "${var.name}-broker-ws"
  vpc_id      = var.vpc_id
  target_type = "instance"
  protocol    = "TCP"
  port        = var.broker_ws_port
  # WebSocket connections are as long as TCP ones: the same drain.
  deregistration_delay   = var.drain_seconds + 5
  connection_termination = false
  preserve_client_ip     = true

  health_check {
    protocol            = "TCP"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "broker_ws" {
  load_balancer_arn = aws_lb.broker.arn
  protocol          = "TCP"
  port              = var.broker_ws_port

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.broker_ws.arn
  }

  tags = var.tags
}

resource "aws_lb" "brokerlist" {
  #checkov:skip=CKV_AWS_150:Deletion protection follows var.deletion_protection: on by default and in prod, off in staging so that it can be torn down.
  #checkov:skip=CKV2_AWS_28:brokerlist answers one GET with a cached JSON document and takes no input; a WAF is left out of this first cut (README, "Left out").
  name                       = "${var.name}-brokerlist"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [var.alb_security_group_id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  tags                       = var.tags

  #checkov:skip=CKV_AWS_91:Access logs are on when access_logs_bucket is set (the environment roots set it in prod); checkov cannot see through the variable.
  dynamic "access_logs" {
    for_each = var.access_logs_bucket == "" ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = "brokerlist"
      enabled = true
    }
  }
}

resource "aws_lb_target_group" "brokerlist" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to brokerlist stays inside the VPC, in a security group that only the load balancer and the VPC reach.
  name                 = "${var.name}-brokerlist"
  vpc_id               = var.vpc_id
  target_type          = "instance"
  protocol             = "HTTP"
  port                 = var.brokerlist_http_port
  deregistration_delay = var.drain_seconds + 5

  health_check {
    protocol            = "HTTP"
    path                = "/"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "brokerlist_https" {
  load_balancer_arn = aws_lb.brokerlist.arn
  protocol          = "HTTPS"
  port              = 443
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.brokerlist.arn
  }

  tags = var.tags
}
