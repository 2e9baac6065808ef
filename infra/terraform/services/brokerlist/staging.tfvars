# brokerlist in staging: sizing and non-secret tuning. The release is in staging.release.tfvars.
region         = "eu-west-1"
environment    = "staging"
instance_type  = "t3.small"
instance_count = 2
# The browser page (/play/) comes with the release: publish-pex.sh writes `page` (its version and
# sha256) into the release tfvars beside the PEX's; `page = null` there deploys none.
