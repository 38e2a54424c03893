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

# Importing key material, as the README shows it: wrapped with OpenSSL.
ext=$(kms create-key --origin EXTERNAL --description "my own key material" --query KeyMetadata.KeyId)
[ "$(kms describe-key --key-id "$ext" --query KeyMetadata.KeyState)" = "PendingImport" ] || fail "origin EXTERNAL"
kms get-parameters-for-import --key-id "$ext" --wrapping-algorithm RSAES_OAEP_SHA_256 \
    --wrapping-key-spec RSA_2048 --query '[PublicKey,ImportToken]' > "$work/params"
cut -f1 "$work/params" | base64 -d > "$work/wrapping-key.der"
cut -f2 "$work/params" | base64 -d > "$work/import-token.bin"
openssl rand -out "$work/material.bin" 32
openssl pkeyutl -encrypt -pubin -keyform DER -inkey "$work/wrapping-key.der" \
    -in "$work/material.bin" -out "$work/wrapped.bin" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
kms import-key-material --key-id "$ext" --import-token "fileb://$work/import-token.bin" \
    --encrypted-key-material "fileb://$work/wrapped.bin" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE >/dev/null
[ "$(kms describe-key --key-id "$ext" --query KeyMetadata.KeyState)" = "Enabled" ] || fail "imported"
kms encrypt --key-id "$ext" --plaintext "fileb://$work/plain" --query CiphertextBlob | base64 -d > "$work/ext-cipher"
kms decrypt --ciphertext-blob "fileb://$work/ext-cipher" --query Plaintext | base64 -d | cmp -s - "$work/plain" \
  || fail "round trip with imported material"
# On-demand rotation onto new material, as the README shows it.
openssl rand -out "$work/material-2.bin" 32
openssl pkeyutl -encrypt -pubin -keyform DER -inkey "$work/wrapping-key.der" \
    -in "$work/material-2.bin" -out "$work/wrapped-2.bin" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
kms import-key-material --key-id "$ext" --import-token "fileb://$work/import-token.bin" \
    --encrypted-key-material "fileb://$work/wrapped-2.bin" --import-type NEW_KEY_MATERIAL >/dev/null
[ "$(kms list-key-rotations --key-id "$ext" --include-key-material ALL_KEY_MATERIAL \
    --query 'Rotations[].KeyMaterialState' | tr '\t' ' ')" = "CURRENT PENDING_ROTATION" ] || fail "new material waits"
kms rotate-key-on-demand --key-id "$ext" >/dev/null
[ "$(kms list-key-rotations --key-id "$ext" --include-key-material ALL_KEY_MATERIAL \
    --query 'Rotations[].KeyMaterialState' | tr '\t' ' ')" = "NON_CURRENT CURRENT" ] || fail "rotated onto it"
kms decrypt --ciphertext-blob "fileb://$work/ext-cipher" --query Plaintext | base64 -d | cmp -s - "$work/plain" \
  || fail "what the first material encrypted decrypts after the rotation"
# An asymmetric key's material is a PKCS#8 private key, wrapped with an
# ephemeral AES key (RSA_AES_KEY_WRAP_SHA_256).
signer=$(kms create-key --origin EXTERNAL --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId)
kms get-parameters-for-import --key-id "$signer" --wrapping-algorithm RSA_AES_KEY_WRAP_SHA_256 \
    --wrapping-key-spec RSA_3072 --query '[PublicKey,ImportToken]' > "$work/params"
cut -f1 "$work/params" | base64 -d > "$work/wrapping-key.der"
cut -f2 "$work/params" | base64 -d > "$work/import-token.bin"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -outform DER -out "$work/ec.der" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -inform DER -in "$work/ec.der" -outform DER -out "$work/ec.pk8"
openssl rand -out "$work/aes.bin" 32
openssl pkeyutl -encrypt -pubin -keyform DER -inkey "$work/wrapping-key.der" \
    -in "$work/aes.bin" -out "$work/aes-wrapped.bin" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
openssl enc -id-aes256-wrap-pad -K "$(od -An -tx1 -v "$work/aes.bin" | tr -d ' \n')" -iv A65959A6 \
    -in "$work/ec.pk8" -out "$work/material-wrapped.bin"
cat "$work/aes-wrapped.bin" "$work/material-wrapped.bin" > "$work/wrapped.bin"
kms import-key-material --key-id "$signer" --import-token "fileb://$work/import-token.bin" \
    --encrypted-key-material "fileb://$work/wrapped.bin" >/dev/null
kms get-public-key --key-id "$signer" --query PublicKey | base64 -d > "$work/kms-public.der"
openssl pkey -inform DER -in "$work/ec.pk8" -pubout -outform DER -out "$work/own-public.der"
cmp -s "$work/kms-public.der" "$work/own-public.der" || fail "the imported key's public key"
kms sign --key-id "$signer" --message "fileb://$work/plain" --message-type RAW --signing-algorithm ECDSA_SHA_256 \
    --query Signature | base64 -d > "$work/signature"
openssl dgst -sha256 -verify "$work/own-public.der" -keyform DER -signature "$work/signature" "$work/plain" >/dev/null \
  || fail "OpenSSL does not verify what the imported key signed"
echo "aws cli suite ok"
