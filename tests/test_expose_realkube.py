"""network.expose against the real control plane (tests/realkube): `wizard install --only ingress`
installs the real Traefik chart archive into a real API server for each mode, the ingress check
passes, `wizard verify` reports a lost status with the command that restores it, and the stage
restores it; external-ips is refused at preflight, before anything changed, by an API server with
DenyServiceExternalIPs; metallb is refused without MetalLB's CRDs and, with them and the MetalLB
stand-in (tests/realkube/metallb.py), gets its address assigned.

The request to http://PUBLIC_IP/ goes, through the wizard's own `--resolve`, to a local HTTP
stand-in for the controller (it records the request): nothing routes the address here (no
kube-proxy). What this cannot show: that kube-proxy routes the status address or externalIPs to
the pods, MetalLB's real speaker and webhooks, ingress-nginx's admission webhook (its pods do not
run: only the rendering of its Service is tested, in test_expose.py).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.conftest import EXAMPLE_ANSWERS, REPO
from tests.http_standin import IngressControllerStandin
from tests.real_charts import archive
from tests.realkube.metallb import MetalLBStandin
from tests.realkube.waiting import wait_for
from wizard.render import expose

IP = "192.0.2.10"  # TEST-NET-1: nothing answers it, here or anywhere
NAMESPACE, NAME = expose.INGRESS_DEPLOYMENTS["traefik"]
CRDS = Path(__file__).parent / "realkube" / "metallb-crds.yaml"


@pytest.fixture
def controller_standin():
    """The controller's answer to http://PUBLIC_IP/ (tests/http_standin.py)."""
    with IngressControllerStandin() as standin:
        yield standin


@contextmanager
def silent_port():
    """A port that accepts connections and never answers: a request times out, as behind a
    firewall that drops packets (the connection is made here; the answer never comes)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def answers_file(directory: Path, mode: str) -> Path:
    raw = yaml.safe_load(EXAMPLE_ANSWERS.read_text())
    raw["profile"] = "local"
    raw["network"] = {"public_ip": IP, "expose": mode}
    raw.pop("tls", None)
    raw["ingress"] = {"controller": "traefik"}
    raw["charts"] = {"traefik": str(archive("traefik"))}
    raw["registry"] = {"type": "none"}
    raw["cluster"]["runtime"] = "docker"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "answers.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def wizard(env: dict, directory: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wizard", *args, "--dir", str(directory)], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def kubectl(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([shutil.which("kubectl", path=env["PATH"]), *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert not check or done.returncode == 0, done.stderr
    return done


def service(env: dict) -> dict:
    return json.loads(kubectl(env, "-n", NAMESPACE, "get", "service", NAME, "-o", "json").stdout)


def external_ip_column(env: dict) -> str:
    """EXTERNAL-IP as `kubectl get svc` prints it (what an operator reads)."""
    lines = kubectl(env, "-n", NAMESPACE, "get", "service", NAME).stdout.splitlines()
    header, row = lines[0].split(), lines[1].split()
    return row[header.index("EXTERNAL-IP")]


@pytest.fixture
def traefik_release(real_kube_env):
    """The test installs release traefik; removed afterwards (namespace and all), so the next
    test starts without it. The chart's CRDs stay, as helm leaves them."""
    yield
    subprocess.run([shutil.which("helm", path=real_kube_env["PATH"]), "uninstall", "traefik", "-n", NAMESPACE,
                    "--wait", "--timeout", "60s"], env=real_kube_env, capture_output=True, timeout=90)
    kubectl(real_kube_env, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=60s",
            check=False)


def install_ingress(env: dict, directory: Path, answers: Path, port: int, *extra: str) -> subprocess.CompletedProcess:
    return wizard(env, directory, "install", "--answers", str(answers), "--yes", "--only", "ingress",
                  "--resolve", f"{IP}:127.0.0.1:{port}", "--timeout", "60", *extra)


def ingress_context(env: dict, directory: Path, port: int, timeout: float = 60):
    """The context `wizard install` gives the ingress stage, in this process, from DIR's files."""
    from wizard.context import Context, Options
    from wizard.export import read_answers_file
    from wizard.runner import Runner
    from wizard.secretstore import read_stored
    from wizard.settings import load_answers

    settings = load_answers(read_answers_file(directory / "answers.yaml"), read_stored(directory)).settings
    options = Options(timeout=timeout, resolve={IP: f"127.0.0.1:{port}"}, kubeconfig=env["KUBECONFIG"])
    return Context(settings, directory, Runner(directory / "install.log", env=env), options)


def resume_ingress(env: dict, directory: Path, port: int) -> list[str]:
    """What `wizard install` does for the ingress stage on a later run, in this process: the stage
    is recorded done with the same inputs, so it is re-checked, and applied again only if its
    check fails. (Only this stage: the others would need charts from the internet.)"""
    from dataclasses import replace

    from wizard.engine import Engine, Event
    from wizard.stages import plan
    from wizard.state import load_state

    ctx = ingress_context(env, directory, port)
    state = load_state(directory)
    assert state.stages["ingress"].status == "done"
    ingress = replace(next(s for s in plan(ctx.settings) if s.name == "ingress"), needs=())
    events = []
    # The checks' notes go where the context's maker sends them (the engine never rewires it).
    ctx.notify = lambda stage, message: events.append(Event("note", stage, message=message))
    assert Engine(ctx, [ingress], state, events.append).run()
    return [e.message for e in events if e.kind == "note"]


@pytest.mark.slow
def test_load_balancer_status_written_checked_lost_reported_restored_and_unreachable(real_kube_env, traefik_release, tmp_path,
                                                                         controller_standin):
    env, directory = real_kube_env, tmp_path / "setup"
    answers = answers_file(tmp_path, "load-balancer")
    done = install_ingress(env, directory, answers, controller_standin.port)
    assert done.returncode == 0, done.stdout + done.stderr
    svc = service(env)
    assert svc["spec"]["type"] == "LoadBalancer" and svc["spec"]["loadBalancerClass"] == expose.LOAD_BALANCER_CLASS
    assert svc["spec"]["allocateLoadBalancerNodePorts"] is False
    assert all("nodePort" not in p for p in svc["spec"]["ports"]), "the API server allocated NodePorts"
    assert "externalIPs" not in svc["spec"]
    assert svc["status"]["loadBalancer"]["ingress"][0]["ip"] == IP
    assert external_ip_column(env) == IP
    assert IP in controller_standin.seen, "the check did not ask http://PUBLIC_IP/"
    log = (directory / "install.log").read_text()
    assert "--subresource=status" in log

    # The status is lost (as with a re-created Service): verify says so and names the command.
    kubectl(env, "-n", NAMESPACE, "patch", "service", NAME, "--subresource=status", "--type=merge",
            "-p", '{"status":{"loadBalancer":{"ingress":null}}}')
    assert external_ip_column(env) == "<pending>"
    verified = wizard(env, directory, "verify", "--resolve", f"{IP}:127.0.0.1:{controller_standin.port}",
                      "--timeout", "3")
    line = next(x for x in verified.stdout.splitlines() if x.startswith("[ingress] failed"))
    assert verified.returncode == 1
    assert f"does not show {IP} as its external address (it has none)" in line
    assert f"kubectl -n {NAMESPACE} patch service {NAME} --subresource=status --type=merge" in line
    # The command it names, run as an operator would paste it (install.sh has the same line), restores it.
    command = line.split(" — ", 1)[1].split(" (or: ")[0]
    assert command in (directory / "install.sh").read_text().splitlines()
    subprocess.run(["bash", "-c", command], env=env, check=True, capture_output=True, timeout=60)
    assert external_ip_column(env) == IP

    # The Service itself deleted (re-created without status): the next install finds the stage
    # done but its check failing, applies it again, and the address is back.
    kubectl(env, "-n", NAMESPACE, "delete", "service", NAME)
    notes = resume_ingress(env, directory, controller_standin.port)
    assert any(f"was done, but ingress-external-ip: Service {NAMESPACE}/{NAME} does not exist" in n for n in notes)
    assert service(env)["status"]["loadBalancer"]["ingress"][0]["ip"] == IP
    assert external_ip_column(env) == IP

    # Nothing answers on the address (a firewall dropping packets): the check times out and says why.
    with silent_port() as port:
        done = wizard(env, directory, "install", "--answers", str(answers), "--yes", "--only", "ingress",
                      "--resolve", f"{IP}:127.0.0.1:{port}", "--timeout", "6")
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if x.startswith("[ingress] failed"))
    assert f"http://{IP}/ does not answer from this machine" in line and "timed out" in line
    for cause in ("firewall", "wrong network.public_ip", "kube-proxy"):
        assert cause in line


@pytest.mark.slow  # two installs of the real Traefik chart on the real control plane
def test_external_ips_installs_where_allowed_then_moves_to_load_balancer(real_kube_env, traefik_release, tmp_path, controller_standin):
    env, directory = real_kube_env, tmp_path / "setup"
    done = install_ingress(env, directory, answers_file(tmp_path, "external-ips"), controller_standin.port)
    assert done.returncode == 0, done.stdout + done.stderr
    svc = service(env)
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["externalIPs"] == [IP]
    assert external_ip_column(env) == IP
    assert IP in controller_standin.seen
    # An install made the old way moves to the default: helm upgrades the Service in place.
    moved = install_ingress(env, directory, answers_file(tmp_path, "load-balancer"), controller_standin.port)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    svc = service(env)
    assert svc["spec"]["type"] == "LoadBalancer" and "externalIPs" not in svc["spec"]
    assert svc["status"]["loadBalancer"]["ingress"][0]["ip"] == IP and external_ip_column(env) == IP


NO_LOAD_BALANCERS = [
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
     "metadata": {"name": "no-load-balancers"},
     "spec": {"failurePolicy": "Fail",
              "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                      "operations": ["CREATE", "UPDATE"], "resources": ["services"]}]},
              "validations": [{"expression": "object.spec.type != 'LoadBalancer'",
                               "message": "LoadBalancer Services are not allowed here"}]}},
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
     "metadata": {"name": "no-load-balancers"},
     "spec": {"policyName": "no-load-balancers", "validationActions": ["Deny"]}},
]


def _refuses_load_balancers(core) -> bool:
    try:
        core.create_namespaced_service("default", {"metadata": {"name": "probe"}, "spec": {
            "type": "LoadBalancer", "ports": [{"port": 80}]}}, dry_run="All")
        return False
    except client.ApiException as error:
        return error.status in (403, 422)


def test_refused_at_preflight_before_anything_changed(real_api_server, tmp_path):
    """An API server with DenyServiceExternalIPs, a ValidatingAdmissionPolicy that denies
    LoadBalancer Services, and no MetalLB: each mode is refused by the preflight (a server-side dry
    run of the Service the mode makes; MetalLB's CRDs looked up), install exits 3 with the refusal
    and the way out, and nothing was created."""
    strict = real_api_server(enable_admission_plugins=("DenyServiceExternalIPs",))
    env = strict.env(tmp_path / "kube-state")
    core = client.CoreV1Api(strict.api)
    admission = client.AdmissionregistrationV1Api(strict.api)
    admission.create_validating_admission_policy(NO_LOAD_BALANCERS[0])
    admission.create_validating_admission_policy_binding(NO_LOAD_BALANCERS[1])
    wait_for(lambda: _refuses_load_balancers(core), "the policy to take effect", timeout=20, interval=0.2)
    outputs = {}
    for mode in ("external-ips", "load-balancer", "metallb"):
        done = wizard(env, tmp_path / mode, "install", "--answers", str(answers_file(tmp_path / f"{mode}-answers", mode)),
                      "--yes", "--skip-check", "nodes", "--timeout", "20")
        assert done.returncode == 3, done.stdout + done.stderr
        outputs[mode] = done.stdout + done.stderr
    out = outputs["external-ips"]
    assert "warning: Kubernetes v1.37.2 deprecates spec.externalIPs" in out
    assert f"the API server refuses a Service with {IP} in spec.externalIPs" in out
    assert "Use of external IPs is denied by admission control" in out
    assert "set network.expose to load-balancer" in out
    out = outputs["load-balancer"]
    assert f"the API server refuses a Service of type LoadBalancer (loadBalancerClass {expose.LOAD_BALANCER_CLASS})" in out
    assert "LoadBalancer Services are not allowed here" in out and "set network.expose to external-ips" in out
    assert "MetalLB is not installed: the CRD ipaddresspools.metallb.io does not exist" in outputs["metallb"]
    assert NAMESPACE not in {n.metadata.name for n in core.list_namespace().items}
    assert [s.metadata.name for s in core.list_service_for_all_namespaces().items] == ["kubernetes"]


@pytest.mark.slow
def test_metallb_assigns_the_public_ip_from_the_wizards_pool(real_kube, real_kube_env, traefik_release, tmp_path,
                                                            controller_standin):
    env, directory = real_kube_env, tmp_path / "setup"
    answers = answers_file(tmp_path, "metallb")
    kubectl(env, "apply", "-f", str(CRDS))
    kubectl(env, "wait", "--for=condition=Established", *(f"crd/{c}" for c in expose.METALLB_CRDS))
    kubectl(env, "create", "namespace", expose.METALLB_NAMESPACE, check=False)
    try:
        # Preflight finds MetalLB now (the CRDs and its namespace).
        checked = wizard(env, directory, "install", "--answers", str(answers), "--yes", "--only", "preflight",
                         "--skip-check", "nodes", "--timeout", "20")  # nodes: registry none on containerd
        assert "[preflight] done" in checked.stdout, checked.stdout + checked.stderr
        with MetalLBStandin(real_kube.api) as metallb:
            done = install_ingress(env, directory, answers, controller_standin.port)
        assert done.returncode == 0, done.stdout + done.stderr
        assert metallb.assigned == [(f"{NAMESPACE}/{NAME}", IP)]
        svc = service(env)
        assert svc["spec"]["type"] == "LoadBalancer" and "loadBalancerClass" not in svc["spec"]
        assert external_ip_column(env) == IP
        pool = json.loads(kubectl(env, "-n", expose.METALLB_NAMESPACE, "get", "ipaddresspool", expose.METALLB_POOL,
                                  "-o", "json").stdout)
        assert pool["spec"] == {"addresses": [f"{IP}/32"], "autoAssign": False, "avoidBuggyIPs": False}
        assert metallb.advertised_pools() == {expose.METALLB_POOL}
        # Without the stand-in nothing assigns: the check waits, then says what to look at.
        kubectl(env, "-n", NAMESPACE, "patch", "service", NAME, "--subresource=status", "--type=merge",
                "-p", '{"status":{"loadBalancer":{"ingress":null}}}')
        from wizard import checks
        from wizard.context import CheckFailed

        with pytest.raises(CheckFailed) as failed:
            checks.ingress_address(ingress_context(env, directory, controller_standin.port, timeout=2))
        assert f"to get {IP} from MetalLB" in str(failed.value) and "no external address" in str(failed.value)
        assert f"get ipaddresspool {expose.METALLB_POOL}" in failed.value.next_step
    finally:
        kubectl(env, "delete", "namespace", expose.METALLB_NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
