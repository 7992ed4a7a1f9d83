"""Contract of the capacity APIs (EC2 Auto Scaling, ECS + Application Auto Scaling): twin and moto alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from contract_support import asg_target, ecs_target

from forescale_tools.memory import InMemoryCapacity
from functions.adapters.capacity import (
    AsgCapacity,
    CapacityApi,
    CapacityError,
    CapacityRouter,
    CapacitySnapshot,
    EcsCapacity,
)
from functions.domain.target import ScalingTarget

pytestmark = pytest.mark.integration


@dataclass
class Backend:
    name: str
    api: CapacityApi
    make_asg: Any  # (name, desired, min, max, tags=CONSENT) -> None
    make_ecs: Any  # (cluster, service, desired, tags=CONSENT) -> None


#: The tag that consents to forescale changing a resource (the executor refuses a resource without it).
CONSENT = {"forescale:enabled": "true"}


def _moto_backend(moto_client, unique_name) -> Backend:
    ec2, autoscaling = moto_client("ec2"), moto_client("autoscaling")
    ecs, aas = moto_client("ecs"), moto_client("application-autoscaling")
    subnets = [
        s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    ]
    template = unique_name("lt")
    ec2.create_launch_template(
        LaunchTemplateName=template, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )

    def make_asg(name: str, desired: int, low: int, high: int, tags: dict[str, str] = CONSENT) -> None:
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
            MinSize=low,
            MaxSize=high,
            DesiredCapacity=desired,
            VPCZoneIdentifier=",".join(subnets[:2]),
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": False} for k, v in tags.items()],
        )

    def make_ecs(cluster: str, service: str, desired: int, tags: dict[str, str] = CONSENT) -> None:
        ecs.create_cluster(clusterName=cluster)
        task = ecs.register_task_definition(
            family=unique_name("task"),
            containerDefinitions=[{"name": "app", "image": "nginx", "memory": 128}],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=cluster,
            serviceName=service,
            taskDefinition=task,
            desiredCount=desired,
            **({"tags": [{"key": k, "value": v} for k, v in tags.items()]} if tags else {}),
        )
        # Steady state: moto starts a new service with runningCount 0 and sets it to desired on update.
        ecs.update_service(cluster=cluster, service=service, desiredCount=desired)

    api = CapacityRouter(asg=AsgCapacity(autoscaling), ecs=EcsCapacity(ecs, aas))
    return Backend("moto", api, make_asg, make_ecs)


def _memory_backend() -> Backend:
    twin = InMemoryCapacity()
    return Backend(
        "memory",
        twin,
        lambda name, desired, low, high, tags=CONSENT: twin.add_asg(
            name, desired=desired, min_capacity=low, max_capacity=high, tags=tags
        ),
        lambda cluster, service, desired, tags=CONSENT: twin.add_ecs_service(
            cluster, service, desired=desired, tags=tags
        ),
    )


@pytest.fixture(params=["memory", "moto"])
def backend(request: pytest.FixtureRequest, unique_name) -> Backend:
    if request.param == "memory":
        return _memory_backend()
    return _moto_backend(request.getfixturevalue("moto_client"), unique_name)


# --------------------------------------------------------------------------- ASG


@pytest.fixture
def asg(backend: Backend, unique_name) -> ScalingTarget:
    name = unique_name("asg")
    backend.make_asg(name, 2, 1, 10)
    return asg_target(name, min_capacity=1, max_capacity=8)


def test_asg_describe_and_set_desired(backend: Backend, asg: ScalingTarget):
    assert backend.api.describe(asg) == CapacitySnapshot(
        desired=2, in_service=2, min_capacity=1, max_capacity=10, consented=True
    )
    backend.api.set_desired(asg, 5)
    assert backend.api.describe(asg) == CapacitySnapshot(
        desired=5, in_service=5, min_capacity=1, max_capacity=10, consented=True
    )


@pytest.mark.parametrize("desired", [0, 9, 11])
def test_asg_never_set_beyond_bounds(backend: Backend, asg: ScalingTarget, desired: int):
    # group bounds [1, 10], configured bounds [1, 8]: 0, 9 and 11 are all refused
    with pytest.raises(CapacityError, match="OutOfBounds") as raised:
        backend.api.set_desired(asg, desired)
    assert raised.value.retryable is False
    assert backend.api.describe(asg).desired == 2


def test_asg_set_bounds_moves_desired_inside(backend: Backend, asg: ScalingTarget):
    backend.api.set_bounds(asg, min_capacity=4, max_capacity=9)
    assert backend.api.describe(asg) == CapacitySnapshot(
        desired=4, in_service=4, min_capacity=4, max_capacity=9, consented=True
    )
    backend.api.set_bounds(asg, min_capacity=1, max_capacity=3)
    snapshot = backend.api.describe(asg)
    assert (snapshot.desired, snapshot.min_capacity, snapshot.max_capacity) == (3, 1, 3)
    with pytest.raises(CapacityError, match="InvalidBounds"):
        backend.api.set_bounds(asg, min_capacity=5, max_capacity=4)


@pytest.mark.parametrize("tags", [{}, {"forescale:enabled": "false"}, {"team": "shop"}])
def test_a_group_or_service_without_the_consent_tag_describes_as_not_consented(backend: Backend, unique_name, tags):
    # GIVEN a group and a service without forescale:enabled=true (untagged, tagged false, other tags only)
    group, cluster, name = unique_name("asg"), unique_name("cluster"), unique_name("svc")
    backend.make_asg(group, 2, 1, 10, tags)
    backend.make_ecs(cluster, name, 2, tags)
    # WHEN they are described THEN neither consents (the executor refuses to change them), tagged ones do
    assert backend.api.describe(asg_target(group)).consented is False
    assert backend.api.describe(ecs_target(cluster, name)).consented is False
    tagged, tagged_cluster, tagged_name = unique_name("asg"), unique_name("cluster"), unique_name("svc")
    backend.make_asg(tagged, 2, 1, 10, {**tags, **CONSENT})
    backend.make_ecs(tagged_cluster, tagged_name, 2, {**tags, **CONSENT})
    assert backend.api.describe(asg_target(tagged)).consented is True
    assert backend.api.describe(ecs_target(tagged_cluster, tagged_name)).consented is True


def test_missing_asg_is_not_found(backend: Backend):
    with pytest.raises(CapacityError, match="NotFound") as raised:
        backend.api.describe(asg_target("no-such-group"))
    assert raised.value.code == "NotFound" and not raised.value.retryable


# --------------------------------------------------------------------------- ECS


@pytest.fixture
def service(backend: Backend, unique_name) -> ScalingTarget:
    cluster, name = unique_name("cluster"), unique_name("svc")
    backend.make_ecs(cluster, name, 2)
    return ecs_target(cluster, name, min_capacity=1, max_capacity=10)


def test_ecs_service_without_scalable_target_reports_configured_bounds(backend: Backend, service: ScalingTarget):
    assert backend.api.describe(service) == CapacitySnapshot(
        desired=2, in_service=2, min_capacity=1, max_capacity=10, consented=True
    )


def test_ecs_scalable_target_bounds_and_desired(backend: Backend, service: ScalingTarget):
    # WHEN bounds are registered and desired set
    backend.api.set_bounds(service, min_capacity=2, max_capacity=6)
    backend.api.set_desired(service, 4)
    # THEN the service and its scalable target reflect both
    assert backend.api.describe(service) == CapacitySnapshot(
        desired=4, in_service=4, min_capacity=2, max_capacity=6, consented=True
    )
    # raising the minimum above desired moves desired up at once (floor mode)
    backend.api.set_bounds(service, min_capacity=5, max_capacity=6)
    assert backend.api.describe(service).desired == 5
    with pytest.raises(CapacityError, match="OutOfBounds"):
        backend.api.set_desired(service, 7)
    assert backend.api.describe(service).desired == 5


def test_missing_ecs_service_is_not_found(backend: Backend, unique_name):
    if backend.name == "moto":
        backend.make_ecs(cluster := unique_name("cluster"), unique_name("svc"), 1)
    else:
        cluster = "c"
    with pytest.raises(CapacityError) as raised:
        backend.api.describe(ecs_target(cluster, "no-such-service"))
    assert raised.value.code in ("NotFound", "ClusterNotFoundException")


def test_wrong_kind_for_adapter_is_refused(moto_client):
    with pytest.raises(ValueError, match="kind"):
        AsgCapacity(moto_client("autoscaling")).describe(ecs_target("c", "s"))


# --------------------------------------------------------------------------- twin only: injected failures


def test_twin_fails_the_next_n_calls():
    twin = InMemoryCapacity()
    twin.add_asg("web", desired=2, min_capacity=1, max_capacity=10)
    target = asg_target("web")
    twin.fail_next(2)
    for _ in range(2):
        with pytest.raises(CapacityError, match="Throttling") as raised:
            twin.set_desired(target, 3)
        assert raised.value.retryable
    twin.set_desired(target, 3)
    assert twin.describe(target).desired == 3
    twin.set_in_service("web", 1)
    assert twin.describe(target).in_service == 1
    assert [call[0] for call in twin.calls] == ["set_desired"] * 3 + ["describe"] * 2
