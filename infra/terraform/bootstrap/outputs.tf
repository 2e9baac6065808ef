output "backend_hcl" {
  description = "What envs/<environment>/backend.hcl must say."
  value       = <<-EOT
    bucket         = "${aws_s3_bucket.this["tfstate"].id}"
    dynamodb_table = "${aws_dynamodb_table.lock.name}"
    region         = "${var.region}"
    encrypt        = true
  EOT
}

output "artifact_bucket" {
  description = "The releases bucket (artifact_bucket in envs/<environment>/terraform.tfvars)."
  value       = aws_s3_bucket.this["artifacts"].id
}
