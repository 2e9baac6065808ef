# brokerlist in prod: sizing and non-secret tuning. The release is in prod.release.tfvars.
region         = "eu-west-1"
environment    = "prod"
instance_type  = "t3.medium"
instance_count = 2
