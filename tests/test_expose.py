"""network.expose, rendered: for each mode and each ingress controller, real helm renders the real
chart with the values the wizard writes, and the controller's Service has the shape the mode needs
(type, loadBalancerClass, externalIPs or not, no NodePorts, MetalLB's annotation); every key is one
the chart reads; MetalLB's pool passes the CRD schema of tests/realkube/metallb-crds.yaml; and
install.sh and the review screen's dry run list the same commands for the mode.

What this cannot show: what a cluster does with these objects (that the API server stores the
status, refuses externalIPs, that MetalLB assigns): tests/test_expose_realkube.py does, against the
real control plane.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.real_charts import KUBE_VERSION, Template, find, helm_template_many
from tests.rendering import documents_of, render, yaml_of
from tests.test_chart_value_keys import chart_values_of, unread
from tests.variants import variant
from wizard.render import expose
from wizard.settings import FIELDS, value_at, load_answers

MODES = ("load-balancer", "external-ips", "metallb")
CONTROLLERS = ("traefik", "ingress-nginx")
IP = "203.0.113.10"
CRDS = Path(__file__).parent / "realkube" / "metallb-crds.yaml"


def answers(mode: str, controller: str) -> dict:
    raw = variant("production-keycloak-traefik")
    raw["network"]["expose"] = mode
    raw.setdefault("ingress", {})["controller"] = controller
    return raw


@pytest.fixture(scope="module")
def services() -> dict[tuple[str, str], tuple[dict, dict]]:
    """(mode, controller) -> (the rendered files, the controller's Service as helm renders it)."""
    jobs, files = {}, {}
    for mode in MODES:
        for controller in CONTROLLERS:
            files[mode, controller] = render(answers(mode, controller))
            namespace = expose.INGRESS_DEPLOYMENTS[controller][0]
            jobs[mode, controller] = Template(controller, controller, namespace,
                                              (files[mode, controller][f"{controller}-values.yaml"].content,))
    rendered = helm_template_many(list(jobs.values()))
    return {key: (files[key], find(rendered[job], "Service", expose.INGRESS_DEPLOYMENTS[key[1]][1]))
            for key, job in jobs.items()}


@pytest.mark.parametrize("controller", CONTROLLERS)
@pytest.mark.parametrize("mode", MODES)
def test_the_service_has_the_shape_the_mode_needs(mode, controller, services):
    files, service = services[mode, controller]
    spec = service["spec"]
    kubernetes_validate.validate(service, KUBE_VERSION, strict=True)
    annotations = (service["metadata"].get("annotations") or {})
    if mode == "external-ips":
        assert spec["type"] == "ClusterIP" and spec["externalIPs"] == [IP]
        assert "loadBalancerClass" not in spec and expose.METALLB_IPS_ANNOTATION not in annotations
    else:
        assert spec["type"] == "LoadBalancer" and "externalIPs" not in spec
        assert spec["allocateLoadBalancerNodePorts"] is False
        assert all("nodePort" not in port for port in spec["ports"])
        if mode == "load-balancer":
            assert spec["loadBalancerClass"] == expose.LOAD_BALANCER_CLASS
            assert expose.METALLB_IPS_ANNOTATION not in annotations
        else:  # MetalLB skips a Service with a class; it reads the address it should give from the annotation
            assert "loadBalancerClass" not in spec and annotations[expose.METALLB_IPS_ANNOTATION] == IP
    assert {p["port"] for p in spec["ports"]} >= {80, 443}
    # Every values key the wizard set is one the chart reads (test_chart_value_keys' walk).
    assert unread(controller, chart_values_of(files)[controller]) == []
    assert (expose.METALLB_FILE in files) == (mode == "metallb")


def test_the_metallb_pool_holds_the_public_ip_alone_and_passes_the_crd_schema():
    files = render(answers("metallb", "traefik"))
    pool, advertisement = documents_of(files, expose.METALLB_FILE)
    schemas = {crd["spec"]["names"]["kind"]: crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
               for crd in yaml.safe_load_all(CRDS.read_text())}
    for obj in (pool, advertisement):
        assert obj["apiVersion"] == "metallb.io/v1beta1" and obj["metadata"]["namespace"] == "metallb-system"
        jsonschema.validate(obj, schemas[obj["kind"]])
    assert pool["spec"] == {"addresses": [f"{IP}/32"], "autoAssign": False}
    assert advertisement["spec"] == {"ipAddressPools": [pool["metadata"]["name"]]}
    raw = answers("metallb", "traefik")
    raw["network"]["public_ip"] = "2001:db8::10"
    assert documents_of(render(raw), expose.METALLB_FILE)[0]["spec"]["addresses"] == ["2001:db8::10/128"]


def test_external_addresses_read_as_kubectl_shows_them():
    lb = {"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"ip": IP}]}}}
    assert expose.external_addresses(lb) == [IP]
    # A ClusterIP Service's status is not shown (the API server refuses to store one anyway).
    assert expose.external_addresses({"spec": {"type": "ClusterIP", "externalIPs": [IP]},
                                      "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}) == [IP]
    assert expose.external_addresses({"spec": {"type": "LoadBalancer"}, "status": {}}) == []
    assert expose.external_addresses(None) == []


def _review_commands(raw: dict, directory: Path) -> list[str]:
    from screens.session import Answers, review_data
    from wizard.stages import plan

    secrets = {spec.path: value_at(raw, spec.path) for spec in FIELDS if spec.secret and value_at(raw, spec.path)}
    data = review_data(Answers(directory, copy.deepcopy(raw), secrets), plan)
    assert data.problems == []
    return [c.split("] ", 1)[1] for c in data.commands if c.startswith("[ingress]")]


@pytest.mark.parametrize("mode", MODES)
def test_install_sh_and_the_review_show_the_same_ingress_commands(mode, tmp_path):
    """The review lists what a dry run of the engine would run; install.sh must do the same for the
    mode (file paths aside: the script runs in DIR)."""
    raw = answers(mode, "traefik")
    script = render(raw)["install.sh"].content
    review = _review_commands(raw, tmp_path / "dir")
    shown = [c.replace(f"{tmp_path / 'dir'}/", "") for c in review]
    settings = load_answers(raw).settings
    patch = expose.status_patch_command(settings)
    assert f"network.expose {mode}" in script
    if mode == "load-balancer":
        assert patch in shown and patch in script.splitlines()
        assert "--subresource=status" in patch and f'"ip":"{IP}"' in patch
    else:
        assert all("--subresource=status" not in c for c in shown) and "--subresource=status" not in script
    if mode == "metallb":
        apply = f"kubectl apply -f {expose.METALLB_FILE}"
        assert apply in shown and apply in script.splitlines()
        assert script.index(apply) < script.index("helm upgrade --install traefik")
        assert ".status.loadBalancer.ingress[0].ip" in script
    assert ("externalIPs" in yaml_of(render(raw), "traefik-values.yaml")["service"]["spec"]) == (mode == "external-ips")
    helm = next(c for c in shown if c.startswith("helm upgrade --install traefik"))
    assert helm.split(" -f ")[0] in script
    assert "curl -sS -o /dev/null --max-time 5 http://203.0.113.10/" in script


def test_the_ingress_screen_offers_each_mode_with_its_why_and_saves_the_choice(tmp_path):
    """On the ingress screen: the three modes, one line of why each, the chosen one marked; the
    choice reaches the answers the review and export use."""
    from textual.widgets import Static

    from tests.test_tui_support import aio, choose, make_app, prefilled, present, wait_for
    from wizard.settings import EXPOSE_MODES

    @aio
    async def walk():
        app = make_app(tmp_path / "dir", answers=prefilled(tmp_path / "dir"))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            app.start_steps("ingress_storage")
            await wait_for(pilot, lambda: present(app, "#expose-note"))
            note = lambda: str(app.screen.query_one("#expose-note", Static).render()).splitlines()  # noqa: E731
            assert note() == [f"{'▸' if mode == 'load-balancer' else ' '} {mode}: {why}"
                              for mode, why in EXPOSE_MODES.items()]
            await choose(pilot, "network.expose", "metallb")
            assert app.answers.get("network.expose") == "metallb"
            assert [line[0] for line in note()] == [" ", " ", "▸"]
    walk()
