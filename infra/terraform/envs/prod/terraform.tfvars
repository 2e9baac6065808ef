# prod: sizes and addresses. The datatier.pex release is in datatier.release.tfvars
# (bin/publish-pex.sh prod datatier writes it).
region             = "eu-west-1"
vpc_cidr           = "10.30.0.0/16"
az_count           = 3
single_nat_gateway = false
yellow_count       = 3
# brokerlist_certificate_arn: the ACM certificate of brokerlist's public name, added here once it
# is issued (DNS validation is the domain owner's step); until then the plan asks for it.
alb_access_logs_bucket  = "" # a bucket with the ELB log-delivery policy is not made yet (README)
deletion_protection     = true
artifact_bucket         = "highnoon-prod-artifacts"
postgres_instance_type  = "m6i.2xlarge"
postgres_volume_gb      = 500
postgres_shared_buffers = "8GB"
pgpool_count            = 2
redis_shard_count       = 4
redis_instance_type     = "r6i.xlarge"
redis_maxmemory         = "19gb"
twemproxy_count         = 3
