# Run once per environment (and account), before anything else, with local state: the buckets and
# the lock table every other root needs. Its own state is small and can move into the bucket it
# made afterwards (`terraform init -migrate-state` with a backend block; README).

terraform {
  required_version = ">= 1.0.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.91"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "highnoon:environment" = var.environment
      "highnoon:managed-by"  = "infra/terraform/bootstrap"
    }
  }
}

locals {
  buckets = {
    # Every root's state, one key per root: platform/terraform.tfstate, services/<svc>/terraform.tfstate.
    tfstate = "${var.name_prefix}-${var.environment}-tfstate"
    # PEX releases: services/<svc>/<version>/<svc>.pex and libs/hn-datatier/<version>/datatier.pex.
    artifacts = "${var.name_prefix}-${var.environment}-artifacts"
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Access logging needs a third bucket per environment; CloudTrail data events are the audit trail for these two (README, "Left out").
  #checkov:skip=CKV_AWS_144:Cross-region replication is left out: the state can be rebuilt by import, the releases by rebuilding the PEX from its git commit.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of these buckets.
  for_each = local.buckets
  bucket   = each.value
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Old state versions and replaced releases go after a quarter; current objects stay.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    id     = "expire-noncurrent"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this
  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.tls_only[each.key].json
}

resource "aws_dynamodb_table" "lock" {
  #checkov:skip=CKV_AWS_119:Lock items hold only a state path and a lock id; the AWS-owned key is enough.
  name         = "${var.name_prefix}-${var.environment}-tflock"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
}
