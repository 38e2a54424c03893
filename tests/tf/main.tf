# Terraform's AWS provider managing keys through the endpoint, as a team
# would: a symmetric key with rotation, tags and an alias, a key with a key
# policy, an ECC signing key and an HMAC key, data sources reading them.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "endpoint" { type = string }
variable "access_key" { type = string }
variable "secret_key" { type = string }
variable "description" { type = string }
variable "rotation_days" { type = number }
variable "team" { type = string }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints { kms = var.endpoint }
}

resource "aws_kms_key" "app" {
  description             = var.description
  enable_key_rotation     = true
  rotation_period_in_days = var.rotation_days
  deletion_window_in_days = 7
  tags                    = { team = var.team }
}

resource "aws_kms_alias" "app" {
  name          = "alias/terraform-app"
  target_key_id = aws_kms_key.app.key_id
}

resource "aws_kms_key" "guarded" {
  description             = "with a key policy"
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Everyone"
      Effect    = "Allow"
      Principal = { AWS = "*" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_key" "signer" {
  description              = "ECC signing"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
}

resource "aws_kms_key" "mac" {
  key_usage                = "GENERATE_VERIFY_MAC"
  customer_master_key_spec = "HMAC_256"
}

resource "aws_kms_ciphertext" "greeting" {
  key_id    = aws_kms_alias.app.name
  plaintext = "hello from terraform"
  context   = { purpose = "test" }
}

data "aws_kms_secrets" "greeting" {
  secret {
    name    = "greeting"
    payload = aws_kms_ciphertext.greeting.ciphertext_blob
    context = { purpose = "test" }
  }
}

data "aws_kms_key" "by_alias" {
  key_id = aws_kms_alias.app.name
}

data "aws_kms_alias" "app" {
  name = aws_kms_alias.app.name
}

data "aws_kms_public_key" "signer" {
  key_id = aws_kms_key.signer.arn
}

output "app_arn" { value = aws_kms_key.app.arn }
output "app_by_alias" { value = data.aws_kms_key.by_alias.arn }
output "alias_target" { value = data.aws_kms_alias.app.target_key_arn }
output "public_key" { value = data.aws_kms_public_key.signer.public_key_pem }
output "key_ids" {
  value = [aws_kms_key.app.key_id, aws_kms_key.guarded.key_id, aws_kms_key.signer.key_id, aws_kms_key.mac.key_id]
}
output "greeting" {
  value     = data.aws_kms_secrets.greeting.plaintext["greeting"]
  sensitive = true
}
