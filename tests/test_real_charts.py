"""The real charts (shared/upstream/charts), rendered by real helm with the values the wizard
writes, for every answers variant: each chart accepts its values (its schema, its templates'
`fail`s), every object passes kubernetes-validate strict for Kubernetes 1.37 (cert-manager's kinds:
its CRDs), and what the answers ask for is in the rendered objects, read back from them.

What this cannot show: how a cluster runs these objects (controllers, webhooks, the kubelet); the
end-to-end install does.
"""

from __future__ import annotations

import base64
import json
import time
from functools import cache
from unittest import mock

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from tests.conftest import fixed_tokens, upstream
from tests.real_charts import KUBE_VERSION, Template, find, helm_template_many
from tests.rendering import documents_of, render, yaml_of
from tests.variants import VARIANTS, variant
from wizard.render.infra import INGRESS_DEPLOYMENTS, LOCALPV_DEPLOYMENT, STORAGE_CHART, STORAGE_VALUES_FILE
from wizard.render.values import PULL_SECRET
from wizard.settings import load_answers

CERT_MANAGER_CRDS = ("cert-manager.io_clusterissuers.yaml", "cert-manager.io_certificates.yaml")
# The wizard's own manifests, beside the charts' objects.
PLAIN_MANIFESTS = ("binderhub-issuer.yaml", "registry.yaml", "persistent_config_configmap.yaml",
                   "scheduler_configmap.yaml", "supervisord_configmap.yaml", "jupyter_config_configmap.yaml")


@cache
def rendered_files(name: str):
    """The files export writes for variant `name`, with the same generated tokens every time."""
    return render(variant(name), token=fixed_tokens())


def jobs_for(name: str) -> dict[str, Template]:
    """Chart key -> the helm template call the install of variant `name` amounts to."""
    files = rendered_files(name)
    s = load_answers(variant(name)).settings
    jobs = {"binderhub": Template("binderhub", s.cluster.release, s.cluster.namespace,
                                  (files["config.yaml"].content, files["secret.yaml"].content))}
    controller = s.ingress.controller
    jobs[controller] = Template(controller, controller, INGRESS_DEPLOYMENTS[controller][0],
                                (files[f"{controller}-values.yaml"].content,))
    if s.production:
        jobs["cert-manager"] = Template("cert-manager", "cert-manager", "cert-manager",
                                        (files["cert-manager-values.yaml"].content,))
    if s.storage.provisioner == "openebs":
        jobs[STORAGE_CHART] = Template(STORAGE_CHART, "openebs", "openebs", (files[STORAGE_VALUES_FILE].content,))
    return jobs


@pytest.fixture(scope="session")
def rendered() -> dict[str, dict[str, list[dict]]]:
    """Variant -> chart key -> the objects helm renders: every distinct call once, two at a time."""
    upstream("charts")
    wanted = {name: jobs_for(name) for name in VARIANTS}
    started = time.monotonic()
    objects = helm_template_many([job for jobs in wanted.values() for job in jobs.values()])
    print(f"\nhelm template: {len(objects)} distinct renders in {time.monotonic() - started:.1f} s")
    return {name: {key: objects[job] for key, job in jobs.items()} for name, jobs in wanted.items()}


@pytest.fixture(scope="session")
def crd_validators() -> dict[str, jsonschema.protocols.Validator]:
    validators = {}
    for filename in CERT_MANAGER_CRDS:
        crd = yaml.safe_load(upstream(filename).read_text())
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        schema = version["schema"]["openAPIV3Schema"]
        validators[crd["spec"]["names"]["kind"]] = jsonschema.validators.validator_for(schema)(schema)
    return validators


def validate(obj: dict, crd_validators) -> None:
    if obj.get("apiVersion", "").startswith("cert-manager.io/"):
        errors = [e.message for e in crd_validators[obj["kind"]].iter_errors(obj)]
        assert errors == [], f"{obj['kind']} {obj['metadata']['name']}: {errors}"
        return
    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def objects_of(name: str, rendered) -> list[dict]:
    """Every object the install of variant `name` sends: the charts' and the wizard's own."""
    files = rendered_files(name)
    objects = [obj for chart in rendered[name].values() for obj in chart]
    return objects + [doc for filename in PLAIN_MANIFESTS if filename in files for doc in documents_of(files, filename)]


@pytest.fixture(scope="session")
def validation_failures(rendered, crd_validators) -> dict[str, str]:
    """Each distinct object validated once (most charts render the same objects for many
    variants): its JSON -> the failure, or "" when it passes."""
    results: dict[str, str] = {}
    # kubernetes-validate reads its schema files again for every object (16 s here instead of 3).
    schemas = cache(kubernetes_validate.utils.schema_contents)
    with mock.patch.object(kubernetes_validate.utils, "schema_contents", schemas):
        for name in VARIANTS:
            for obj in objects_of(name, rendered):
                key = json.dumps(obj, sort_keys=True)
                if key in results:
                    continue
                try:
                    validate(obj, crd_validators)
                    results[key] = ""
                except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError,
                        AssertionError) as err:
                    results[key] = f"{obj.get('kind')} {obj['metadata'].get('name')}: {str(err)[:300]}"
    return results


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_object_passes_kubernetes_validate_strict(name, rendered, validation_failures):
    objects = objects_of(name, rendered)
    failures = [validation_failures[json.dumps(obj, sort_keys=True)] for obj in objects]
    assert [failure for failure in failures if failure] == []
    assert len(objects) > 30


def test_validation_catches_a_misspelt_field(crd_validators):
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
               "spec": {"type": "ClusterIP", "externalIP": ["203.0.113.10"]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(service, crd_validators)


@pytest.mark.parametrize("name", ["production-keycloak-traefik", "ingress-nginx-staging"])
def test_the_ingress_controller_service_carries_the_public_ip(name, rendered):
    s = load_answers(variant(name)).settings
    namespace, deployment = INGRESS_DEPLOYMENTS[s.ingress.controller]
    objects = rendered[name][s.ingress.controller]
    service = find(objects, "Service", deployment)
    # The default network.expose (load-balancer): the address is written into the status by the
    # ingress stage; every mode is read back in test_expose.py.
    assert s.network.expose == "load-balancer"
    assert service["spec"]["type"] == "LoadBalancer" and "externalIPs" not in service["spec"]
    assert service["spec"]["loadBalancerClass"] == "binderhub-wizard/static-address"
    find(objects, "Deployment", deployment)  # the name the checks and install.sh wait for
    assert find(objects, "IngressClass", "nginx" if s.ingress.controller == "ingress-nginx" else "traefik")


def test_traefik_ignores_the_service_keys_the_wizard_used_to_set():
    """Defect 6 of issue 9: with `service.type`/`service.externalIPs`, Traefik 41 renders a
    LoadBalancer without the public IP. The read-back above would catch that."""
    old = Template("traefik", "traefik", "traefik",
                   (yaml.safe_dump({"service": {"type": "ClusterIP", "externalIPs": ["203.0.113.10"]}}),))
    service = find(helm_template_many([old])[old], "Service", "traefik")
    assert service["spec"]["type"] == "LoadBalancer" and "externalIPs" not in service["spec"]


def test_the_storage_class_is_the_default_and_the_provisioner_runs(rendered):
    objects = rendered["production-keycloak-traefik"][STORAGE_CHART]
    storage_class = find(objects, "StorageClass", "openebs-hostpath")
    assert storage_class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert storage_class["provisioner"] == "openebs.io/local"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    provisioner = find(objects, "Deployment", LOCALPV_DEPLOYMENT)
    env = {e["name"]: e.get("value") for c in provisioner["spec"]["template"]["spec"]["containers"]
           for e in c.get("env") or []}
    assert env["OPENEBS_IO_ENABLE_ANALYTICS"] == "false", "the provisioner must not report usage home"
    assert {o["kind"] for o in objects} == {"ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount",
                                            "StorageClass"}, "only the hostpath provisioner is installed"


def test_cert_manager_installs_its_crds_and_keeps_them(rendered):
    objects = rendered["production-keycloak-traefik"]["cert-manager"]
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    assert {c["metadata"]["name"] for c in crds} >= {"certificates.cert-manager.io", "clusterissuers.cert-manager.io"}
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in crds)
    for deployment in ("cert-manager", "cert-manager-cainjector", "cert-manager-webhook"):
        find(objects, "Deployment", deployment)  # what install.sh waits for


def _hub_values(objects: list[dict]) -> dict:
    """The chart values the hub pod reads (z2jh's hub Secret, values.yaml)."""
    return yaml.safe_load(base64.b64decode(find(objects, "Secret", "hub")["data"]["values.yaml"]))


def _binder_values(objects: list[dict]) -> dict:
    return yaml.safe_load(find(objects, "Secret", "binder-secret")["stringData"]["values.yaml"])


@pytest.mark.parametrize("name", ["production-keycloak-traefik", "anonymous", "local-profile",
                                  "postgres-existing-storage", "no-tokens-no-storage"])
def test_binderhub_carries_what_config_yaml_sets(name, rendered):
    files = rendered_files(name)
    config = yaml_of(files, "config.yaml")
    objects = rendered[name]["binderhub"]
    hub, binder = _hub_values(objects), _binder_values(objects)
    assert binder["config"]["BinderHub"] == {**binder["config"]["BinderHub"], **config["config"]["BinderHub"]}
    for section in ("cull", "singleuser"):
        assert _contains(hub[section], config["jupyterhub"][section]), section
    assert _contains(hub["hub"]["config"], config["jupyterhub"]["hub"]["config"])
    assert hub["hub"]["allowNamedServers"] == config["jupyterhub"]["hub"]["allowNamedServers"]
    ingresses = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Ingress"}
    assert set(ingresses) == {"binderhub", "jupyterhub"}
    s = load_answers(variant(name)).settings
    if s.production:
        assert ingresses["jupyterhub"]["spec"]["rules"][0]["host"] == s.network.hub_host
        assert ingresses["binderhub"]["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    for service in ("binder", "proxy-public"):
        assert find(objects, "Service", service)["spec"]["type"] == "ClusterIP"


def _contains(big, small) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _contains(big[k], v) for k, v in small.items())
    return big == small


@pytest.mark.parametrize("name", ["production-keycloak-traefik", "anonymous", "postgres-existing-storage"])
def test_culling_is_on_with_the_users_the_chart_allows(name, rendered):
    cull = _hub_values(rendered[name]["binderhub"])["cull"]
    s = load_answers(variant(name)).settings
    assert cull["enabled"] is True and cull["timeout"] == s.hub.cull.timeout
    # With login, culling users would delete their accounts; without, each launch is a throwaway user.
    assert cull["users"] is (s.auth.type == "none")
    assert cull["removeNamedServers"] is (s.auth.type == "keycloak" and s.hub.named_servers)


@pytest.mark.parametrize("name,registry", [("production-keycloak-traefik", "registry.example.org"),
                                           ("in-cluster-registry", "registry.example.org"),
                                           ("anonymous", "registry.example.org")])
def test_the_pull_secret_holds_credentials_for_the_image_prefix_host(name, registry, rendered):
    s = load_answers(variant(name)).settings
    files = rendered_files(name)
    password = yaml_of(files, "secret.yaml")["registry"]["password"]
    objects = rendered[name]["binderhub"]
    secret = find(objects, "Secret", PULL_SECRET)
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]
    assert list(auths) == [registry]
    assert (auths[registry]["username"], auths[registry]["password"]) == (s.registry.username, password)
    # The hub's ConfigMap names it, and z2jh hands that name to KubeSpawner (next test).
    assert find(objects, "ConfigMap", "hub")["data"]["image-pull-secret"] == PULL_SECRET
    assert "imagePullSecret" not in yaml_of(files, "config.yaml").get("jupyterhub", {})


def test_no_pull_secret_without_a_registry(rendered):
    assert not [o for o in rendered["no-registry-docker"]["binderhub"] if o["metadata"]["name"] == PULL_SECRET]


@pytest.mark.parametrize("name,expected", [("production-keycloak-traefik", [PULL_SECRET]),
                                           ("in-cluster-registry", [PULL_SECRET]),
                                           ("anonymous", [PULL_SECRET]),
                                           ("no-registry-docker", None)])
def test_user_pods_the_hub_spawns_carry_the_pull_secret(name, expected, rendered, tmp_path, capsys):
    """The hub configuration helm rendered, run by z2jh's own jupyterhub_config.py (with BinderHub's
    BinderSpawner), and the pod manifest KubeSpawner 7 builds from it."""
    from tests.z2jh_hub import load, pod_manifest

    s = load_answers(variant(name)).settings
    config = load(rendered[name]["binderhub"], s.cluster.namespace, tmp_path / "hub")
    assert config.JupyterHub.spawner_class.__name__ == "BinderSpawner"
    image = f"{s.registry.image_prefix}abc123:f00d"
    pod = pod_manifest(config, image)
    assert pod.spec.containers[0].image == image
    names = [ref.name for ref in pod.spec.image_pull_secrets] if pod.spec.image_pull_secrets else None
    assert names == expected
