"""When a Deployment counts as ready (wizard/kube.py deployment_available): available and rolled
out, as `kubectl rollout status` decides. The statuses are the ones the real Deployment
controller writes at each moment of a rollout (Recreate and RollingUpdate, read from
pkg/controller/deployment: status from the ReplicaSets in its cache); the rollback end to end
(tests/test_upgrade_realkube.py) is where the old-pod case was seen against the real controller."""

from __future__ import annotations

import pytest

from wizard.kube import deployment_available


def deployment(generation=2, replicas=1, observed=2, updated=1, total=1, available=1, ready=True) -> dict:
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                       "availableReplicas": available,
                       "conditions": [{"type": "Available", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize("obj, expected, why", [
    (deployment(), True, "rolled out, the new pod available"),
    (deployment(observed=1), False, "the controller has not seen the new template yet"),
    (deployment(updated=0), False, "the controller saw it, the old pod still answers (the case seen)"),
    (deployment(updated=1, total=2, available=1), False, "the new pod is up, the old one not gone"),
    (deployment(updated=1, available=0, ready=False), False, "the new pod is not available"),
    (deployment(replicas=2, updated=2, total=2, available=1), False,
     "Available (maxUnavailable allows one down), but rollout status waits for every updated replica"),
    (deployment(replicas=2, updated=2, total=2, available=2), True, "two replicas, both rolled out"),
])
def test_a_deployment_is_ready_only_once_rolled_out(obj, expected, why):
    assert deployment_available(obj) is expected, why
