# match in staging: sizing and non-secret tuning. The release is in staging.release.tfvars.
region         = "eu-west-1"
environment    = "staging"
instance_type  = "t3.medium"
instance_count = 2
min_size       = 1
max_size       = 6
