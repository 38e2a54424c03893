#!/usr/bin/env bash
# The README walk-through with the aws CLI, plus its error cases. Run by
# tests/clients.rs with AWS_* and KUBE_KMS_ENDPOINT set.
set -euo pipefail
kms() { aws kms --endpoint-url "$KUBE_KMS_ENDPOINT" --output text "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

key=$(kms create-key --description "cli walk-through" --query KeyMetadata.KeyId)
kms create-alias --alias-name alias/cli-demo --target-key-id "$key"
printf 'secret text' > "$work/plain"
kms encrypt --key-id alias/cli-demo --plaintext "fileb://$work/plain" --encryption-context app=cli \
  --query CiphertextBlob | base64 -d > "$work/cipher"
kms decrypt --ciphertext-blob "fileb://$work/cipher" --encryption-context app=cli --query Plaintext | base64 -d > "$work/back"
cmp -s "$work/plain" "$work/back" || fail "decrypt returned other bytes"
[ "$(kms generate-data-key --key-id alias/cli-demo --key-spec AES_256 --query 'length(Plaintext)')" -gt 40 ] || fail "data key"
[ "$(kms describe-key --key-id alias/cli-demo --query KeyMetadata.KeyState)" = "Enabled" ] || fail "describe"
kms list-aliases --query 'Aliases[].AliasName' | grep -q alias/cli-demo || fail "list-aliases"
kms list-keys --query 'Keys[].KeyId' | grep -q "$key" || fail "list-keys"
# A key policy from a file, as Terraform and the console write them.
cat > "$work/policy.json" <<'POLICY'
{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "Account", "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]
}
POLICY
kms put-key-policy --key-id "$key" --policy-name default --policy "file://$work/policy.json"
kms get-key-policy --key-id "$key" --policy-name default --query Policy > "$work/policy.back"
# Byte for byte, but for the newline text output ends with.
[ "$(cat "$work/policy.json")" = "$(cat "$work/policy.back")" ] || fail "get-key-policy: $(cat "$work/policy.back")"
[ "$(kms list-key-policies --key-id "$key" --query 'PolicyNames[0]')" = "default" ] || fail "list-key-policies"

if err=$(kms decrypt --ciphertext-blob "fileb://$work/cipher" 2>&1); then fail "decrypt without context succeeded"; fi
grep -q InvalidCiphertextException <<<"$err" || fail "expected InvalidCiphertextException: $err"
kms disable-key --key-id "$key"
if err=$(kms encrypt --key-id "$key" --plaintext "fileb://$work/plain" 2>&1); then fail "disabled key encrypted"; fi
grep -q DisabledException <<<"$err" || fail "expected DisabledException: $err"
if err=$(AWS_SECRET_ACCESS_KEY=wrong kms list-keys 2>&1); then fail "bad secret accepted"; fi
grep -q InvalidSignatureException <<<"$err" || fail "expected InvalidSignatureException: $err"
if err=$(AWS_ACCESS_KEY_ID=AKIDNOBODY kms list-keys 2>&1); then fail "unknown key accepted"; fi
grep -q UnrecognizedClientException <<<"$err" || fail "expected UnrecognizedClientException: $err"
if err=$(kms list-keys --region eu-west-1 2>&1); then fail "a signature for another region accepted"; fi
grep -q "InvalidSignatureException.*scoped to a valid region, not 'eu-west-1'" <<<"$err" || fail "expected the region error: $err"
echo "aws cli suite ok"
