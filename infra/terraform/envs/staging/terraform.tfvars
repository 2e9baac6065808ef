# staging: sizes and addresses. The datatier.pex release is in datatier.release.tfvars
# (bin/publish-pex.sh staging datatier writes it).
region             = "eu-west-1"
vpc_cidr           = "10.20.0.0/16"
az_count           = 2
single_nat_gateway = true
yellow_count       = 2
# brokerlist_certificate_arn: the ACM certificate of brokerlist's public name, added here once it
# is issued (DNS validation is the domain owner's step); until then the plan asks for it.
alb_access_logs_bucket  = ""
deletion_protection     = false
artifact_bucket         = "highnoon-staging-artifacts"
postgres_instance_type  = "t3.large"
postgres_volume_gb      = 50
postgres_shared_buffers = "2GB"
pgpool_count            = 2
redis_shard_count       = 2
redis_instance_type     = "t3.medium"
redis_maxmemory         = "2gb"
twemproxy_count         = 2
