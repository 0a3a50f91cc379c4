"""The kubeadm configuration file: its documents as data, and the file as the wizard and
bootstrap-node.sh write it passing kubeadm's own validator (`kubeadm config validate`, built from
k8s.io/kubernetes at the pinned version).

What the validator proves: the API versions are the ones this kubeadm reads (v1beta4; v1beta3 is
refused since 1.37), every field name and type is known to it (strict decoding, the
KubeletConfiguration included), the addresses and the pod subnet parse, and kubernetesVersion is
one this kubeadm deploys. What it cannot prove: the kubelet's own semantic checks on its
configuration (kubeadm does not run them: a low GC threshold above the high one passes), nor that
`kubeadm init` succeeds on a real machine (no kubelet or container runtime runs here).
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.built_binaries import built
from tests.test_bootstrap import FRESH, KUBEADM_CONFIG
from tests.test_bootstrap_script import _written_by_script
from wizard import bootstrap as b
from wizard import yamlio
from wizard.kubeadmconfig import IMAGE_GC, kubeadm_config, kubeadm_documents

KUBEADM_ENV = "BINDERHUB_WIZARD_KUBEADM"


@pytest.fixture(scope="module")
def kubeadm() -> Path:
    """The real kubeadm of the pinned version: ${BINDERHUB_WIZARD_KUBEADM}, or the one the
    control-plane build put in its cache."""
    return built("kubeadm", KUBEADM_ENV, ("version", "-o", "short"), lambda v: v == b.KUBERNETES_VERSION,
                 f"kubeadm {b.KUBERNETES_VERSION}")


def _validate(kubeadm: Path, text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "kubeadm-config.yaml"
    path.write_text(text)
    return subprocess.run([str(kubeadm), "config", "validate", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)


def _planned(facts) -> str:
    return next(c.stdin for step, cs in b.plan(facts) if step.name == "kubeadm-config" for c in cs if c.argv[0] == "tee")


# --- the documents as data -----------------------------------------------------------------------

def test_the_documents_pin_the_cluster_and_the_kubelet():
    init, cluster, kubelet = kubeadm_documents("v1.37.2", "10.244.0.0/16", "203.0.113.10", "203.0.113.10")
    assert [(d["apiVersion"], d["kind"]) for d in (init, cluster, kubelet)] == [
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration"), ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"),
        ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")]
    assert init["localAPIEndpoint"] == {"advertiseAddress": "203.0.113.10"}
    assert init["nodeRegistration"] == {"criSocket": "unix:///var/run/containerd/containerd.sock"}
    assert cluster["kubernetesVersion"] == "v1.37.2" and cluster["networking"] == {"podSubnet": "10.244.0.0/16"}
    assert cluster["apiServer"] == {"certSANs": ["203.0.113.10"]}
    assert kubelet["cgroupDriver"] == "systemd"


def test_image_garbage_collection_starts_before_the_kubelet_evicts():
    """The kubelet evicts pods when its image filesystem has less than 15% free (85% used):
    collection must start below that, and free down to a lower mark."""
    high, low = IMAGE_GC["imageGCHighThresholdPercent"], IMAGE_GC["imageGCLowThresholdPercent"]
    assert 0 < low < high < 85
    assert IMAGE_GC["imageMaximumGCAge"] == "336h"   # two weeks; above imageMinimumGCAge (2m)


def test_the_file_is_yaml_dumped_from_the_documents():
    text = kubeadm_config("v1.37.2", "10.244.0.0/16", "2001:db8::10", None)
    assert yamlio.loads_all(text) == kubeadm_documents("v1.37.2", "10.244.0.0/16", "2001:db8::10", None)
    assert text.startswith("---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n")
    assert "localAPIEndpoint" not in text and "- 2001:db8::10" in text


def test_the_steps_pin_the_patch_release_and_init_reads_the_file():
    assert b.KUBERNETES_VERSION == "v1.37.2" and b.KUBERNETES_MINOR == "v1.37"
    assert "kubernetesVersion: v1.37.2\n" in _planned(FRESH)
    init = next(step for step in b.node_steps("203.0.113.10") if step.name == "kubeadm-init")
    assert [c.argv for c in init.commands] == [("kubeadm", "init", f"--config={KUBEADM_CONFIG}")]


# --- kubeadm's own validator ---------------------------------------------------------------------

@pytest.mark.parametrize("facts", [
    FRESH,                                                                  # the public IP is local
    replace(FRESH, addresses=("127.0.0.1", "10.0.0.5")),                    # behind 1:1 NAT
    replace(FRESH, public_ip="2001:db8::10", addresses=("::1", "2001:db8::10")),
    replace(FRESH, public_ip=None),
], ids=["local-ip", "nat", "ipv6", "no-public-ip"])
def test_kubeadm_accepts_the_file_the_wizard_writes(kubeadm, tmp_path, facts):
    run = _validate(kubeadm, _planned(facts), tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_kubeadm_accepts_the_file_bootstrap_node_sh_writes(kubeadm, tmp_path):
    written = _written_by_script(tmp_path, 'ID=ubuntu\nVERSION_ID="26.04"\nUBUNTU_CODENAME=resolute\n', KUBEADM_CONFIG)
    assert written.returncode == 0, written.stderr
    run = _validate(kubeadm, written.stdout, tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


@pytest.mark.parametrize("change, message", [
    (("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3"), 'uses an old API spec: "kubeadm.k8s.io/v1beta3"'),
    (("imageGCLowThresholdPercent", "imageGCLowThresholdPercents"), 'unknown field "imageGCLowThresholdPercents"'),
    (("imageMaximumGCAge: 336h", "imageMaximumGCAge: two weeks"), 'invalid duration "two weeks"'),
    (("kubernetesVersion: v1.37.2", "kubernetesVersion: v1.35.9"), "control plane version >= 1.36.0"),
    (("podSubnet: 10.244.0.0/16", "podSubnet: 10.244.0.0/33"), "podSubnet"),
])
def test_kubeadm_refuses_what_a_wrong_file_would_say(kubeadm, tmp_path, change, message):
    """The validator is live: each of these small mistakes in the same file is refused."""
    text = _planned(FRESH)
    assert change[0] in text
    run = _validate(kubeadm, text.replace(*change), tmp_path)
    assert run.returncode != 0 and message in run.stderr, run.stderr
