# broker in prod: sizing and non-secret tuning. The release is in prod.release.tfvars.
region         = "eu-west-1"
environment    = "prod"
instance_type  = "c6i.xlarge"
instance_count = 4
min_size       = 2
max_size       = 16
environment_variables = {
  HN_BROKER_CAPACITY = "20000"
}
