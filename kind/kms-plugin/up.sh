#!/usr/bin/env bash
# A kind cluster whose Secrets are encrypted in etcd by the kube-kms KMS v2
# plugin. The key comes from the embedded default (a cluster cannot hold
# the key that encrypts its own etcd): a KmsKey manifest is applied to a
# local store, exported with `kube-kms export-kek`, and mounted into the
# node with the root key. Needs docker, kind, kubectl and cargo.
set -euo pipefail
cd "$(dirname "$0")"
kms_dir=$PWD
cd ../..
cluster=${KIND_CLUSTER:-kube-kms-plugin}
image=localhost:5001/kube-kms:dev
work=$kms_dir/.work

for tool in docker kind kubectl cargo; do
  command -v "$tool" >/dev/null || { echo "kind/kms-plugin/up.sh needs $tool on PATH" >&2; exit 1; }
done

# 1. The key: a KmsKey in a local store, exported for the plugin.
cargo build --release --locked --bin kube-kms
bin=target/release/kube-kms
mkdir -p "$work/keys" "$work/store/manifests"
cat > "$work/store/manifests/etcd-kek.yaml" <<YAML
apiVersion: kubekms.io/v1alpha1
kind: KmsKey
metadata: {name: etcd}
spec: {description: "kind cluster etcd encryption"}
---
apiVersion: kubekms.io/v1alpha1
kind: KmsAlias
metadata: {name: etcd}
spec: {aliasName: alias/etcd, targetKeyRef: {name: etcd}}
YAML
"$bin" serve --data-dir "$work/store" --manifests "$work/store/manifests" \
  --listen 127.0.0.1:0 --insecure-no-auth 2>"$work/serve.log" &
serve=$!
for _ in $(seq 1 100); do grep -q "kube-kms endpoint on" "$work/serve.log" && break; sleep 0.1; done
kill "$serve"; wait "$serve" || true
"$bin" export-kek --data-dir "$work/store" --key alias/etcd --out "$work/keys/kek.json"
mkdir -p "$work/keys/root"
cp "$work/store/root.key" "$work/keys/root/v1"
chmod 0600 "$work/keys/root/v1"

# 2. The image, in a registry the node can pull from at boot.
docker network inspect kind >/dev/null 2>&1 || docker network create kind
if ! docker inspect kind-registry >/dev/null 2>&1; then
  docker run -d --restart=always --network kind --name kind-registry -p 127.0.0.1:5001:5000 registry:2
fi
docker build -t "$image" .
docker push "$image"
sed -e "s|image: kube-kms:0.1.0|image: $image|" config/kms-plugin/static-pod.yaml > "$work/static-pod.yaml"
cp config/kms-plugin/encryption-configuration.yaml "$work/encryption-configuration.yaml"

# 3. The cluster.
sed -e "s|\${KMS_DIR}|$kms_dir|g" "$kms_dir/cluster.yaml" > "$work/cluster.yaml"
kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --config "$work/cluster.yaml" --wait 2m

# 4. Check: a Secret is stored with the plugin's prefix.
kubectl create secret generic kms-check --from-literal=k=v --dry-run=client -o yaml | kubectl apply -f -
kubectl -n kube-system exec "etcd-$cluster-control-plane" -- etcdctl \
  --cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/etcd/server.crt \
  --key /etc/kubernetes/pki/etcd/server.key \
  get /registry/secrets/default/kms-check --print-value-only \
  | head -c 40 | grep -aq "k8s:enc:kms:v2:kube-kms:" \
  && echo "Secrets are encrypted by kube-kms in etcd"
