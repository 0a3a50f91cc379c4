#!/usr/bin/env bash
# The install that `wizard install` performs, by hand. Written by binderhub-wizard 0.1.0.
# Idempotent: run it again after changing a file; helm upgrades, kubectl applies.
# Each step waits for what the next one needs, as the wizard's stages do; the wizard also checks
# the result of every stage against the cluster. kubectl and helm read KUBECONFIG as usual;
# DEADLINE_SECONDS (default 600) bounds each wait.
set -euo pipefail
cd "$(dirname "$0")"

DEADLINE_SECONDS=${DEADLINE_SECONDS:-600}
case $DEADLINE_SECONDS in
  '' | *[!0-9]*) echo "DEADLINE_SECONDS must be a whole number of seconds" >&2; exit 2 ;;
esac

step() { printf '\n==> %s\n' "$*"; }
waiting() { printf '    waiting up to %ss for %s\n' "$DEADLINE_SECONDS" "$*"; }
# retry WHAT COMMAND...: run COMMAND every 5 s until it succeeds, for DEADLINE_SECONDS at most.
retry() {
  local what=$1 output deadline
  shift
  deadline=$((SECONDS + DEADLINE_SECONDS))
  waiting "$what"
  until output=$("$@" 2>&1); do
    if ((SECONDS >= deadline)); then
      printf 'gave up after %ss waiting for %s:\n%s\n' "$DEADLINE_SECONDS" "$what" "$output" >&2
      return 1
    fi
    sleep 5
  done
}
ingress_admitted() {
  kubectl create --dry-run=server -o name -f - <<'EOF'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: binderhub-wizard-admission-check
  namespace: ingress-nginx
spec:
  ingressClassName: nginx
  rules:
  - host: admission-check.invalid
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: binderhub-wizard-admission-check
            port:
              number: 80
EOF
}
certificate_admitted() {
  kubectl create --dry-run=server -o name -f - <<'EOF'
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: binderhub-wizard-api-check
  namespace: cert-manager
spec:
  secretName: binderhub-wizard-api-check
  dnsNames:
  - api-check.invalid
  issuerRef:
    name: binderhub-wizard-api-check
    kind: Issuer
EOF
}

step 'storage: OpenEBS Local PV hostpath (localpv-provisioner), openebs-hostpath the default StorageClass'
helm upgrade --install openebs localpv-provisioner --repo https://openebs.github.io/dynamic-localpv-provisioner --version 4.0.0 --namespace openebs --create-namespace -f localpv-provisioner-values.yaml
waiting 'Deployment openebs/openebs-localpv-provisioner to be available'
kubectl -n openebs rollout status deployment/openebs-localpv-provisioner --timeout="${DEADLINE_SECONDS}s"
for class in $(kubectl get storageclass -o name); do
  if [ "$class" != storageclass.storage.k8s.io/openebs-hostpath ]; then
    kubectl annotate --overwrite "$class" storageclass.kubernetes.io/is-default-class=false
  fi
done

step 'ingress: ingress-nginx on 203.0.113.10 (network.expose load-balancer)'
helm upgrade --install ingress-nginx ingress-nginx --repo https://kubernetes.github.io/ingress-nginx --version 4.14.5 --namespace ingress-nginx --create-namespace -f ingress-nginx-values.yaml
kubectl -n ingress-nginx patch service ingress-nginx-controller --subresource=status --type=merge -p '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.10"}]}}}'
waiting 'Deployment ingress-nginx/ingress-nginx-controller to be available'
kubectl -n ingress-nginx rollout status deployment/ingress-nginx-controller --timeout="${DEADLINE_SECONDS}s"
retry 'the ingress-nginx admission webhook to accept a dry-run Ingress' ingress_admitted
retry 'http://203.0.113.10/ to answer (else: a firewall, a wrong address, or kube-proxy)' curl -sS -o /dev/null --max-time 5 http://203.0.113.10/

step 'certificates: cert-manager'
helm upgrade --install cert-manager oci://quay.io/jetstack/charts/cert-manager --version v1.21.1 --namespace cert-manager --create-namespace -f cert-manager-values.yaml
waiting 'Deployment cert-manager/cert-manager to be available'
kubectl -n cert-manager rollout status deployment/cert-manager --timeout="${DEADLINE_SECONDS}s"
waiting 'Deployment cert-manager/cert-manager-cainjector to be available'
kubectl -n cert-manager rollout status deployment/cert-manager-cainjector --timeout="${DEADLINE_SECONDS}s"
waiting 'Deployment cert-manager/cert-manager-webhook to be available'
kubectl -n cert-manager rollout status deployment/cert-manager-webhook --timeout="${DEADLINE_SECONDS}s"
retry 'the cert-manager webhook to accept a dry-run Certificate (its CA injected)' certificate_admitted

step 'certificates: Let'"'"'s Encrypt issuers (letsencrypt-prod is used)'
kubectl apply -f binderhub-issuer.yaml
retry 'ClusterIssuer letsencrypt-prod to be Ready (its ACME account registered)' kubectl wait --for=condition=Ready clusterissuer/letsencrypt-prod --timeout=10s

step 'namespace binder and the ConfigMaps mounted into user pods'
kubectl create namespace binder --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n binder -f persistent_config_configmap.yaml
kubectl apply -n binder -f scheduler_configmap.yaml
kubectl apply -n binder -f supervisord_configmap.yaml
kubectl apply -n binder -f jupyter_config_configmap.yaml

step BinderHub
helm upgrade --install binder binderhub --repo https://hub.jupyter.org/helm-chart/ --version 1.0.0-0.dev.git.3958.haf9ca8b1 --namespace binder --create-namespace -f config.yaml -f secret.yaml
waiting 'Deployment binder/hub to be available'
kubectl -n binder rollout status deployment/hub --timeout="${DEADLINE_SECONDS}s"
waiting 'Deployment binder/proxy to be available'
kubectl -n binder rollout status deployment/proxy --timeout="${DEADLINE_SECONDS}s"
waiting 'Deployment binder/binder to be available'
kubectl -n binder rollout status deployment/binder --timeout="${DEADLINE_SECONDS}s"
waiting 'PersistentVolumeClaim binder/hub-db-dir to be Bound'
kubectl -n binder wait --for=jsonpath='{.status.phase}'=Bound pvc/hub-db-dir --timeout="${DEADLINE_SECONDS}s"
kubectl -n binder get secret image-pull-secret -o name >/dev/null || { echo 'Secret binder/image-pull-secret is missing: user pods cannot pull the images BinderHub builds. secret.yaml must carry jupyterhub.imagePullSecret: run wizard export again, then this script' >&2; exit 1; }
retry 'Certificate binder/binderhub-tls to be Ready (its host must resolve to the public IP)' kubectl -n binder wait --for=condition=Ready certificate/binderhub-tls --timeout=10s
retry 'Certificate binder/jupyterhub-tls to be Ready (its host must resolve to the public IP)' kubectl -n binder wait --for=condition=Ready certificate/jupyterhub-tls --timeout=10s

step 'done: BinderHub at https://binder.example.org/, JupyterHub at https://hub.example.org/'
