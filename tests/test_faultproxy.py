"""The fault proxy (tests/realkube/faultproxy.py) in front of the real API server: real kubectl and
the python client go through it unchanged, and only the faults a test asks for are added.

What these prove: an injected Status reaches kubectl as that code and message, once per `times`;
a watch streams through (an event made on the real server arrives while the watch is open); a
held request completes only when released, a slow one only after its delay; a stopped proxy refuses
connections and listens again on the same port. What they cannot: how a real load balancer or a failing etcd behaves (the
proxy's errors are well-formed Status answers, not truncated or malformed ones).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time

import pytest
from kubernetes import client, config

from tests.realkube.waiting import wait_for
from tests.test_realkube import run


def test_an_injected_500_reaches_kubectl_as_500_then_the_real_answer(real_kube, fault_proxy, fault_proxy_env):
    fault = fault_proxy.inject("GET", r"^/api/v1/nodes$", status=500, message="etcd is having a bad day")
    failed = run(fault_proxy_env, "kubectl", "get", "nodes", "-o", "name", check=False)
    assert failed.returncode == 1
    assert "InternalError" in failed.stderr and "etcd is having a bad day" in failed.stderr, failed.stderr
    assert fault.hits == 1 and fault.times == 0
    listed = run(fault_proxy_env, "kubectl", "get", "nodes", "-o", "name").stdout.split()
    assert f"node/{real_kube.node}" in listed, "after `times` requests the real server answers"
    assert ("GET", "/api/v1/nodes") in fault_proxy.seen


def test_a_watch_streams_through(real_kube, real_namespace, fault_proxy, fault_proxy_env):
    namespace = real_namespace("watch")
    watcher = subprocess.Popen(
        [shutil.which("kubectl", path=fault_proxy_env["PATH"]), "get", "configmaps", "-n", namespace, "--watch",
         "-o", "name"],
        env=fault_proxy_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in watcher.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=20) == "configmap/kube-root-ca.crt"  # the initial list, through the proxy
        listing = ("GET", f"/api/v1/namespaces/{namespace}/configmaps")
        wait_for(lambda: fault_proxy.seen.count(listing) >= 2, "kubectl's watch request after its list")
        time.sleep(0.5)  # the watch is open: the next object must come as an event, not a list
        client.CoreV1Api(real_kube.api).create_namespaced_config_map(namespace, {"metadata": {"name": "later"}})
        assert lines.get(timeout=20) == "configmap/later", "the event arrived through the open watch"
    finally:
        watcher.kill()
        watcher.wait()


def test_hold_then_release_and_stop_then_start_on_the_same_port(real_kube, fault_proxy):
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(fault_proxy.kubeconfig)))
    held = fault_proxy.hold(r"^/api/v1/namespaces/default$", method="GET", times=1)
    answers: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: answers.put(core.read_namespace("default")), daemon=True).start()
    assert held.met.wait(10)
    with pytest.raises(queue.Empty):
        answers.get(timeout=0.5)
    held.release()
    assert answers.get(timeout=10).metadata.name == "default"

    port = fault_proxy.port
    fault_proxy.stop()
    with pytest.raises(Exception) as refused:
        core.read_namespace("default", _request_timeout=5)
    assert "Connection refused" in str(refused.value) or "ConnectionRefused" in repr(refused.value), refused.value
    fault_proxy.start()
    assert fault_proxy.port == port
    assert core.read_namespace("default", _request_timeout=5).metadata.name == "default"
    assert json.loads(json.dumps(fault_proxy.seen))[-1] == ["GET", "/api/v1/namespaces/default"]


def test_slow_delays_only_the_matching_requests_it_counts(real_kube, fault_proxy):
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(fault_proxy.kubeconfig)))
    slow = fault_proxy.slow(r"^/api/v1/namespaces/default$", 1.0, method="GET", times=1)

    def timed(call) -> float:
        began = time.monotonic()
        call()
        return time.monotonic() - began

    assert timed(lambda: core.read_namespace("kube-system")) < 1.0, "another path is not delayed"
    assert timed(lambda: core.read_namespace("default")) >= 1.0
    assert slow.hits == 1 and slow.times == 0
    assert timed(lambda: core.read_namespace("default")) < 1.0, "after `times` requests, no delay"
