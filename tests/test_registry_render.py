"""Where built images go: config.yaml's registry for each registry type and node runtime, and the
in-cluster registry's manifests (registry.yaml) as Kubernetes accepts them."""

from __future__ import annotations

import copy

import bcrypt
import kubernetes_validate
import pytest

from tests.helm_merge import merge
from tests.rendering import documents_of, render, yaml_of
# The upstream-schema fixtures and the helm-like merge, shared with test_rendered_schemas.
from tests.test_rendered_schemas import K8S_VERSION, _errors, binderhub_schema, chart_values, z2jh_schema  # noqa: F401
from tests.variants import BASE
from wizard.export import export
from wizard.render import REGISTRY_FILE, builder_for
from wizard.render.registry import IMAGE, NGINX_ANNOTATIONS
from wizard.settings import load_answers
from wizard.yamlio import loads

TOKEN = "9" * 64  # every generated secret, so the registry password is known
IN_CLUSTER = {"type": "in-cluster", "url": None, "username": None, "password": None, "image_prefix": None}
NONE = {"type": "none", "url": None, "username": None, "password": None, "image_prefix": None}
REGISTRY = {"external": {}, "in-cluster": IN_CLUSTER, "none": NONE}


def answers(registry_type: str = "in-cluster", runtime: str = "containerd", **sections) -> dict:
    raw = merge(copy.deepcopy(BASE), {"registry": REGISTRY[registry_type], "cluster": {"runtime": runtime}})
    return merge(raw, sections)


def rendered(raw: dict):
    return render(raw, token=lambda: TOKEN)


def manifests(files) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in documents_of(files, REGISTRY_FILE)}


@pytest.mark.parametrize("runtime", ["containerd", "docker"])
@pytest.mark.parametrize("registry_type", ["external", "in-cluster", "none"])
def test_binderhub_values_pass_the_upstream_schemas(registry_type, runtime, binderhub_schema, z2jh_schema):
    files = rendered(answers(registry_type, runtime))
    merged, subchart = chart_values(files)
    assert _errors(binderhub_schema, merged) == []
    assert _errors(z2jh_schema, subchart) == []
    config = yaml_of(files, "config.yaml")
    assert config["imageBuilderType"] == builder_for(runtime)
    binder = config["config"]["BinderHub"]
    assert binder["use_registry"] is (registry_type != "none")
    assert (REGISTRY_FILE in files) is (registry_type == "in-cluster")
    if registry_type == "none":
        assert "registry" not in config
        assert "registry" not in yaml_of(files, "secret.yaml")
    if registry_type == "in-cluster":
        assert config["registry"] == {"url": "https://registry.example.org", "username": "binder"}
        assert binder["image_prefix"] == "registry.example.org/binder/r2d-"
        assert yaml_of(files, "secret.yaml")["registry"]["password"] == TOKEN


def test_builder_choice_follows_the_node_runtime():
    """containerd nodes have no Docker socket: build pods would hang (binderhub#1228)."""
    assert builder_for("containerd") == "dind"
    assert builder_for("docker") == "host"


@pytest.mark.parametrize("controller", ["traefik", "ingress-nginx"])
@pytest.mark.parametrize("runtime", ["containerd", "docker"])
def test_registry_manifests_pass_kubernetes_validate_strict(controller, runtime):
    files = rendered(answers(runtime=runtime, ingress={"controller": controller}))
    documents = documents_of(files, REGISTRY_FILE)
    assert [d["kind"] for d in documents] == ["Namespace", "PersistentVolumeClaim", "Secret", "Deployment",
                                              "Service", "Ingress"]
    for document in documents:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
        assert document["metadata"].get("namespace", "registry") == "registry"
    broken = copy.deepcopy(documents[3])
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["tcpSockett"] = {"port": 5000}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_deployment_runs_distribution_with_htpasswd_auth():
    docs = manifests(rendered(answers()))
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == IMAGE and IMAGE.startswith("docker.io/library/registry:3.")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["REGISTRY_AUTH"] == "htpasswd"
    assert env["REGISTRY_AUTH_HTPASSWD_REALM"]
    assert env["REGISTRY_STORAGE_DELETE_ENABLED"] == "true"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert env["REGISTRY_AUTH_HTPASSWD_PATH"].rsplit("/", 1)[0] in mounts
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/auth"]]["secret"]["secretName"] == docs["Secret"]["metadata"]["name"]
    assert volumes[mounts["/var/lib/registry"]]["persistentVolumeClaim"]["claimName"] == \
        docs["PersistentVolumeClaim"]["metadata"]["name"]
    # /v2/ answers 401 without credentials: an httpGet probe there would never pass.
    for probe in ("readinessProbe", "livenessProbe"):
        assert "httpGet" not in container[probe] and container[probe]["tcpSocket"]["port"] == "http"
    assert docs["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    service = docs["Service"]["spec"]
    assert service["type"] == "ClusterIP" and service["ports"][0]["port"] == 5000
    assert service["selector"].items() <= docs["Deployment"]["spec"]["template"]["metadata"]["labels"].items()


# (Staging is refused with the in-cluster registry: containerd would not trust its certificate.)
@pytest.mark.parametrize("controller,issuer", [("ingress-nginx", "https://acme.internal.example.org/directory"),
                                               ("traefik", "production")])
def test_the_ingress_has_tls_the_binderhub_issuer_and_no_body_limit(controller, issuer):
    files = rendered(answers(ingress={"controller": controller}, tls={"acme_server": issuer}))
    ingress = manifests(files)["Ingress"]
    annotations = ingress["metadata"]["annotations"]
    config = yaml_of(files, "config.yaml")
    assert annotations["cert-manager.io/cluster-issuer"] == config["ingress"]["annotations"][
        "cert-manager.io/cluster-issuer"] == ("letsencrypt-prod" if issuer == "production" else "acme-custom")
    assert ingress["spec"]["ingressClassName"] == config["ingress"]["ingressClassName"]
    assert ingress["spec"]["tls"] == [{"hosts": ["registry.example.org"], "secretName": "registry-tls"}]
    assert ingress["spec"]["rules"][0]["host"] == "registry.example.org"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "registry", "port": {"number": 5000}}
    if controller == "ingress-nginx":
        assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
        assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "600"
        assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "600"
        assert NGINX_ANNOTATIONS.items() <= annotations.items()
    else:
        assert not any(key.startswith("nginx.") for key in annotations)
        # Traefik 3 cuts requests after 60 s unless the entry point's read timeout is lifted.
        traefik = yaml_of(files, "traefik-values.yaml")
        assert traefik["ports"]["websecure"]["transport"]["respondingTimeouts"]["readTimeout"] == 0


def test_traefik_timeout_is_only_lifted_for_the_in_cluster_registry():
    for registry_type in ("external", "none"):
        assert "ports" not in yaml_of(rendered(answers(registry_type)), "traefik-values.yaml")


def test_volume_size_and_storage_class_come_from_the_answers():
    raw = answers(registry={"storage_size": "200Gi"},
                  storage={"provisioner": "existing", "storage_class": "local-path"})
    claim = manifests(rendered(raw))["PersistentVolumeClaim"]["spec"]
    assert claim["storageClassName"] == "local-path"
    assert claim["resources"]["requests"]["storage"] == "200Gi"
    assert manifests(rendered(answers()))["PersistentVolumeClaim"]["spec"]["resources"]["requests"]["storage"] == "50Gi"
    refused = load_answers(answers(registry={"storage_size": "lots"}))
    assert [p.path for p in refused.problems] == ["registry.storage_size"]


def test_storage_size_is_written_back_only_for_the_in_cluster_registry():
    assert yaml_of(rendered(answers()), "answers.yaml")["registry"]["storage_size"] == "50Gi"
    assert "storage_size" not in yaml_of(rendered(answers("external")), "answers.yaml")["registry"]


def test_no_plain_password_in_registry_yaml_and_the_htpasswd_verifies():
    files = rendered(answers())
    text = files[REGISTRY_FILE].content
    assert TOKEN not in text
    assert yaml_of(files, "secret.yaml")["registry"]["password"] == TOKEN
    line = manifests(files)["Secret"]["stringData"]["htpasswd"]
    assert line.endswith("\n") and line.count("\n") == 1
    user, _, hashed = line.strip().partition(":")
    assert user == "binder"
    assert hashed.startswith("$2b$10$")
    assert bcrypt.checkpw(TOKEN.encode(), hashed.encode())
    assert not bcrypt.checkpw(b"wrong", hashed.encode())


def test_the_htpasswd_follows_the_answers():
    """The same password under another host or user name gets another salt, and the hash checks."""
    def hashed(raw):
        return manifests(rendered(raw))["Secret"]["stringData"]["htpasswd"].strip()

    base = hashed(answers())
    other_host = hashed(answers(registry={"host": "images.example.org"}))
    other_user = hashed(answers(registry={"username": "pusher"}))
    assert len({base.split(":", 1)[1][:29], other_host.split(":", 1)[1][:29], other_user.split(":", 1)[1][:29]}) == 3
    assert other_user.startswith("pusher:")
    for line in (other_host, other_user):
        assert bcrypt.checkpw(TOKEN.encode(), line.split(":", 1)[1].encode())


def test_a_re_render_and_a_re_export_are_byte_identical(tmp_path):
    first = rendered(answers())
    second = rendered(answers())
    assert {name: f.content for name, f in first.items()} == {name: f.content for name, f in second.items()}
    # Through export: the password is generated once, stored in secret.yaml, and reused; the bcrypt
    # hash (whose salt is derived, not random) is then the same, so registry.yaml is not rewritten.
    made = export(answers(), tmp_path)
    assert made.ok and REGISTRY_FILE in made.report.written
    before = (tmp_path / REGISTRY_FILE).read_bytes()
    again = export(answers(), tmp_path)
    assert again.ok and again.report.written == []
    assert (tmp_path / REGISTRY_FILE).read_bytes() == before
    password = loads((tmp_path / "secret.yaml").read_text())["registry"]["password"]
    assert len(password) == 64 and password.encode() not in before


def test_install_script_applies_the_registry_before_binderhub():
    files = rendered(answers())
    lines = files["install.sh"].content.splitlines()
    apply = lines.index("kubectl apply -f registry.yaml")
    rollout = next(i for i, line in enumerate(lines) if line.startswith("kubectl -n registry rollout status "
                                                                          "deployment/registry"))
    binderhub = next(i for i, line in enumerate(lines) if line.startswith("helm upgrade --install binder "))
    issuers = lines.index("kubectl apply -f binderhub-issuer.yaml")
    assert issuers < apply < rollout < binderhub
    readme = files["README.md"].content
    assert "| `registry.yaml` |" in readme and "registry.yaml" in readme.split("## Order", 1)[1]
    external = rendered(answers("external"))
    assert "registry.yaml" not in external["install.sh"].content
    assert "registry.yaml" not in external["README.md"].content


@pytest.mark.parametrize("registry,why", [
    ({"username": "bin:der"}, "registry.username"),
    ({"host": "registry.example.org:5000"}, "registry.host"),
])
def test_answers_the_in_cluster_registry_cannot_serve_are_refused(registry, why):
    result = load_answers(answers(registry=registry))
    assert not result.ok and [p.path for p in result.problems] == [why]
