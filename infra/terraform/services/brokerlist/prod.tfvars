# brokerlist in prod: sizing and non-secret tuning. The release is in prod.release.tfvars.
region         = "eu-west-1"
environment    = "prod"
instance_type  = "t3.medium"
instance_count = 2
# The browser page (/play/) comes with the release: publish-pex.sh writes `page` (its version and
# sha256) into the release tfvars beside the PEX's; `page = null` there deploys none.
