#!/usr/bin/env bash
# The install that `wizard install` performs, by hand. Written by binderhub-wizard 0.1.0.
# Idempotent: run it again after changing a file; helm upgrades, kubectl applies.
# The wizard's own install also checks every step against the cluster; this script only waits.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

step 'storage: OpenEBS Local PV hostpath, the default StorageClass'
helm upgrade --install openebs openebs --repo https://openebs.github.io/openebs --version 4.3.3 --namespace openebs --create-namespace -f openebs-values.yaml

step 'ingress: ingress-nginx on 203.0.113.10'
helm upgrade --install ingress-nginx ingress-nginx --repo https://kubernetes.github.io/ingress-nginx --version 4.14.1 --namespace ingress-nginx --create-namespace -f ingress-nginx-values.yaml

step 'certificates: cert-manager'
helm upgrade --install cert-manager oci://quay.io/jetstack/charts/cert-manager --version v1.21.1 --namespace cert-manager --create-namespace -f cert-manager-values.yaml
kubectl -n cert-manager rollout status deployment/cert-manager-webhook --timeout=10m

step 'certificates: Let'"'"'s Encrypt issuers (letsencrypt-prod is used)'
kubectl apply -f binderhub-issuer.yaml
kubectl wait --for=condition=Ready clusterissuer/letsencrypt-prod --timeout=10m

step 'namespace binder and the ConfigMaps mounted into user pods'
kubectl create namespace binder --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n binder -f persistent_config_configmap.yaml
kubectl apply -n binder -f scheduler_configmap.yaml
kubectl apply -n binder -f supervisord_configmap.yaml
kubectl apply -n binder -f jupyter_config_configmap.yaml

step BinderHub
helm upgrade --install binder binderhub --repo https://hub.jupyter.org/helm-chart/ --version 1.0.0-0.dev.git.3959.hb9fad995 --namespace binder --create-namespace -f config.yaml -f secret.yaml
kubectl -n binder rollout status deployment/hub --timeout=10m
kubectl -n binder rollout status deployment/proxy --timeout=10m
kubectl -n binder rollout status deployment/binder --timeout=10m

step 'done: BinderHub at https://binder.example.org/, JupyterHub at https://hub.example.org/'
