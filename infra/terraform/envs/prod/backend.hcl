# State of every prod root (platform and each service, under its own key), made by
# infra/terraform/bootstrap. Names are global in S3: a fork changes the prefix there and here.
bucket         = "highnoon-prod-tfstate"
dynamodb_table = "highnoon-prod-tflock"
region         = "eu-west-1"
encrypt        = true
