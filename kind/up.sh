#!/usr/bin/env bash
# Creates a kind cluster, builds the kube-kms image, loads it into the
# cluster and installs the chart. Needs docker, kind, kubectl and helm.
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=${KIND_CLUSTER:-kube-kms}
image=kube-kms:dev

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "kind/up.sh needs $tool on PATH" >&2; exit 1; }
done

kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --config kind/cluster.yaml
docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"
helm upgrade --install kube-kms charts/kube-kms \
  --namespace kube-kms --create-namespace \
  --set image.repository=kube-kms --set image.tag=dev --set image.pullPolicy=Never \
  --wait
kubectl create namespace team-a --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f config/samples/
# team-a's callers (access keys and ServiceAccounts) may use its keys.
kubectl -n team-a create rolebinding kms-users --clusterrole=kube-kms-key-user \
  --group=kubekms:users:team-a --group=system:serviceaccounts:team-a \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl wait --for=condition=Ready kmskey/app -n team-a --timeout=60s
kubectl get kmskeys,kmsaliases -A
