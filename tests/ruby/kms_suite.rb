# The AWS SDK for Ruby (Debian's ruby-aws-sdk-kms, an older KMS model
# without the asymmetric operations) against the endpoint, errors included,
# as a Ruby service on Debian would call it: its own SigV4 signer
# (aws-sigv4), its own JSON parser, and a model that predates most of the
# members the endpoint sends back, which it must skip.
#
# Run by tests/clients.rs (and over HTTPS by tests/tls.rs, which sets
# AWS_CA_BUNDLE); reads the endpoint from KUBE_KMS_ENDPOINT and credentials
# from the usual AWS_* variables. Exits non-zero on the first failed
# expectation.
require 'aws-sdk-kms'

$passed = 0

def check(condition, what)
  unless condition
    warn "FAILED: #{what}"
    exit 1
  end
  $passed += 1
end

# Checks that the block fails with the SDK's modelled error class
# `expected`, with HTTP status 400 as AWS sends it; returns the error.
def expect_error(expected, what)
  yield
  check(false, "#{what}: should have failed with #{expected}")
rescue Aws::Errors::ServiceError => e
  check(e.is_a?(expected), "#{what}: #{e.class} (#{e.message}), not #{expected}")
  check(e.context.http_response.status_code == 400,
        "#{what}: HTTP #{e.context.http_response.status_code}")
  e
end

endpoint = ENV.fetch('KUBE_KMS_ENDPOINT')
kms = Aws::KMS::Client.new(endpoint: endpoint, region: 'us-east-1', retry_limit: 0)
E = Aws::KMS::Errors

# Keys: create, describe, list with pagination, description.
meta = kms.create_key(description: 'ruby suite', tags: [{ tag_key: 'team', tag_value: 'ruby' }]).key_metadata
key = meta.key_id
check(meta.arn == "arn:aws:kms:us-east-1:111122223333:key/#{key}", "arn #{meta.arn}")
check(meta.key_state == 'Enabled' && meta.enabled && meta.key_usage == 'ENCRYPT_DECRYPT',
      "new key #{meta.to_h}")
check(meta.origin == 'AWS_KMS' && meta.key_manager == 'CUSTOMER', "origin and manager #{meta.to_h}")
check(meta.creation_date.is_a?(Time) && (Time.now - meta.creation_date).abs < 60, 'creation date')
check(kms.describe_key(key_id: meta.arn).key_metadata.description == 'ruby suite', 'describe by arn')
kms.update_key_description(key_id: key, description: 'renamed')
check(kms.describe_key(key_id: key).key_metadata.description == 'renamed', 'description updated')
3.times { kms.create_key }
seen = []
marker = nil
loop do
  page = kms.list_keys(limit: 2, marker: marker)
  check(page.keys.size <= 2, 'a page holds at most Limit keys')
  seen.concat(page.keys.map(&:key_id))
  break unless page.truncated
  marker = page.next_marker
end
check(seen.include?(key) && seen.uniq.size == seen.size, "paged list #{seen.size}")
all = kms.list_keys.each_page.flat_map { |p| p.keys.map(&:key_id) }
check(all.sort == seen.sort, "the SDK's own pager lists the same keys")

# Aliases.
kms.create_alias(alias_name: 'alias/ruby', target_key_id: key)
check(kms.describe_key(key_id: 'alias/ruby').key_metadata.key_id == key, 'alias resolves')
expect_error(E::AlreadyExistsException, 'alias twice') do
  kms.create_alias(alias_name: 'alias/ruby', target_key_id: key)
end
expect_error(E::InvalidAliasNameException, 'alias without prefix') do
  kms.create_alias(alias_name: 'ruby', target_key_id: key)
end
other = kms.create_key(description: 'second').key_metadata.key_id
kms.update_alias(alias_name: 'alias/ruby', target_key_id: other)
listed = kms.list_aliases(key_id: other).aliases
check(listed.map(&:alias_name) == ['alias/ruby'], "aliases of the second key #{listed.map(&:to_h)}")
check(listed[0].alias_arn == 'arn:aws:kms:us-east-1:111122223333:alias/ruby', 'alias arn')
kms.update_alias(alias_name: 'alias/ruby', target_key_id: key)

# Encryption, with encryption context, through the alias.
context = { 'app' => 'ruby', 'tenant' => 'ü' }
ciphertext = kms.encrypt(key_id: 'alias/ruby', plaintext: 'hello from ruby',
                         encryption_context: context).ciphertext_blob
out = kms.decrypt(ciphertext_blob: ciphertext, encryption_context: context)
check(out.plaintext == 'hello from ruby' && out.key_id == meta.arn, 'decrypt round trip')
expect_error(E::InvalidCiphertextException, 'wrong context') do
  kms.decrypt(ciphertext_blob: ciphertext, encryption_context: { 'app' => 'other' })
end
tampered = ciphertext.dup
tampered.setbyte(tampered.bytesize - 1, tampered.getbyte(tampered.bytesize - 1) ^ 1)
expect_error(E::InvalidCiphertextException, 'tampered ciphertext') do
  kms.decrypt(ciphertext_blob: tampered, encryption_context: context)
end
re = kms.re_encrypt(ciphertext_blob: ciphertext, source_encryption_context: context,
                    destination_key_id: other)
check(re.source_key_id == meta.arn && re.key_id.end_with?(other), 're-encrypt names both keys')
check(kms.decrypt(ciphertext_blob: re.ciphertext_blob).plaintext == 'hello from ruby',
      're-encrypted ciphertext decrypts without context')
expect_error(E::ValidationException, 'plaintext over 4096 bytes') do
  kms.encrypt(key_id: key, plaintext: 'x' * 4097)
end

# Data keys and random bytes.
data_key = kms.generate_data_key(key_id: key, key_spec: 'AES_256', encryption_context: context)
check(data_key.plaintext.bytesize == 32, 'a 256-bit data key')
check(kms.decrypt(ciphertext_blob: data_key.ciphertext_blob,
                  encryption_context: context).plaintext == data_key.plaintext,
      'the data key decrypts to its plaintext')
without = kms.generate_data_key_without_plaintext(key_id: key, number_of_bytes: 64)
check(kms.decrypt(ciphertext_blob: without.ciphertext_blob).plaintext.bytesize == 64,
      'a data key without plaintext')
check(kms.generate_random(number_of_bytes: 1024).plaintext.bytesize == 1024, 'random bytes')
err = expect_error(E::ValidationException, 'too many random bytes') do
  kms.generate_random(number_of_bytes: 1025)
end
check(err.message.include?("Value '1025' at 'numberOfBytes' failed to satisfy constraint"),
      "AWS's validation message: #{err.message}")

# Key states.
kms.disable_key(key_id: key)
expect_error(E::DisabledException, 'encrypt with a disabled key') do
  kms.encrypt(key_id: key, plaintext: 'x')
end
kms.enable_key(key_id: key)
expect_error(E::NotFoundException, 'an unknown key') do
  kms.describe_key(key_id: '00000000-0000-0000-0000-000000000000')
end
expect_error(E::InvalidKeyUsageException, 'encrypt with a signing key') do
  kms.encrypt(key_id: 'alias/ed25519-fixture', plaintext: 'x')
end

# Rotation, policies and tags.
kms.enable_key_rotation(key_id: key)
check(kms.get_key_rotation_status(key_id: key).key_rotation_enabled, 'rotation on')
kms.disable_key_rotation(key_id: key)
check(!kms.get_key_rotation_status(key_id: key).key_rotation_enabled, 'rotation off')
check(kms.list_key_policies(key_id: key).policy_names == ['default'], 'policy names')
policy = kms.get_key_policy(key_id: key, policy_name: 'default').policy
check(policy.include?('arn:aws:iam::111122223333:root'), 'the default policy')
kms.put_key_policy(key_id: key, policy_name: 'default', policy: policy)
expect_error(E::MalformedPolicyDocumentException, 'a policy that is not one') do
  kms.put_key_policy(key_id: key, policy_name: 'default', policy: '{"Statement": 1}')
end
kms.tag_resource(key_id: key, tags: [{ tag_key: 'env', tag_value: 'test' }])
kms.untag_resource(key_id: key, tag_keys: ['team'])
tags = kms.list_resource_tags(key_id: key).tags.to_h { |t| [t.tag_key, t.tag_value] }
check(tags == { 'env' => 'test' }, "tags #{tags}")

# Scheduled deletion.
scheduled = kms.schedule_key_deletion(key_id: other, pending_window_in_days: 7)
check((scheduled.deletion_date - Time.now - 7 * 86_400).abs < 120, 'deletion in 7 days')
err = expect_error(E::KMSInvalidStateException, 'encrypt with a key pending deletion') do
  kms.encrypt(key_id: other, plaintext: 'x')
end
check(err.message.include?('is pending deletion'), "AWS's message: #{err.message}")
kms.cancel_key_deletion(key_id: other)
check(kms.describe_key(key_id: other).key_metadata.key_state == 'Disabled',
      'a cancelled deletion leaves the key disabled')
expect_error(E::ValidationException, 'a window under 7 days') do
  kms.schedule_key_deletion(key_id: other, pending_window_in_days: 6)
end

# Grants: made, listed, revoked.
granted = kms.create_grant(key_id: key, grantee_principal: 'arn:aws:iam::111122223333:role/x',
                           operations: ['Decrypt'])
grants = kms.list_grants(key_id: key).grants
check(grants.map(&:grant_id) == [granted.grant_id] && grants[0].operations == ['Decrypt'],
      "ListGrants: #{grants.inspect}")
kms.revoke_grant(key_id: key, grant_id: granted.grant_id)
expect_error(E::NotFoundException, 'a revoked grant') do
  kms.revoke_grant(key_id: key, grant_id: granted.grant_id)
end
expect_error(E::InvalidGrantTokenException, 'a grant token that is none') do
  kms.retire_grant(grant_token: 'not-a-token')
end

# What the endpoint does not do yet, and who may call.
expect_error(E::UnsupportedOperationException, 'importing key material') do
  kms.get_parameters_for_import(key_id: key, wrapping_algorithm: 'RSAES_OAEP_SHA_256',
                                wrapping_key_spec: 'RSA_2048')
end
wrong = Aws::KMS::Client.new(endpoint: endpoint, region: 'us-east-1', retry_limit: 0,
                             access_key_id: ENV.fetch('AWS_ACCESS_KEY_ID'),
                             secret_access_key: 'not-the-secret')
expect_error(E::InvalidSignatureException, 'a wrong secret') { wrong.list_keys }
kms.delete_alias(alias_name: 'alias/ruby')
expect_error(E::NotFoundException, 'a deleted alias') { kms.describe_key(key_id: 'alias/ruby') }

puts "ruby: #{$passed} checks passed (aws-sdk-kms #{Aws::KMS::GEM_VERSION}, " \
     "aws-sdk-core #{Aws::CORE_GEM_VERSION}, #{endpoint.split(':').first})"
