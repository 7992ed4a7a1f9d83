"""Embedding forescale in your own CDK app: one construct next to your own resources.

    python -m infra_cdk.examples.embed_app        # synthesizes into cdk.out/ (offline)
    npx cdk synth --app ".venv/bin/python -m infra_cdk.examples.embed_app"

Here the targets are built in Python (validated by ``ScalingTarget`` the moment they are created),
alarms go to the team's own on-call topic, and the tables, bucket and bus live in the same stack
(pass ``storage=`` to share those of another stack instead).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from functions.domain.target import LoadMetric, ScalingTarget
from infra_cdk.forescale import Cadence, Forescale


def alb_requests(**dimension: str) -> LoadMetric:
    """Requests per minute of one load balancer or target group: the load both services scale on."""
    return LoadMetric(namespace="AWS/ApplicationELB", name="RequestCount", dimensions=dimension, statistic="Sum")


SHOP_WEB = ScalingTarget(
    target_id="shop-web",
    kind="asg",
    asg_name="shop-web-asg",
    metric=alb_requests(LoadBalancer="app/shop-alb/0123456789abcdef"),
    capacity_per_instance=900.0,
    min_capacity=2,
    max_capacity=30,
    boot_seconds=180,
    tags={"team": "shop"},
)
SHOP_CHECKOUT = ScalingTarget(
    target_id="shop-checkout",
    kind="ecs",
    ecs_cluster="shop",
    ecs_service="checkout",
    metric=alb_requests(TargetGroup="targetgroup/checkout/0123456789abcdef"),
    capacity_per_instance="learn",  # fitted from the service's history
    min_capacity=2,
    max_capacity=40,
)


class ShopStack(Stack):
    """A team's own stack: its on-call topic, and forescale scaling two of its services."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id, description="shop services scaled by forescale")
        on_call = sns.Topic(self, "OnCall", display_name="shop on-call", enforce_ssl=True)
        self.forescale = Forescale(
            self,
            "Forescale",
            targets=[SHOP_WEB, SHOP_CHECKOUT],
            cadence=Cadence(collect_every_minutes=1, train_at_hour_utc=4, stale_after_minutes=10),
            modes={"shop-web": "floor"},  # checkout stays in forecast_only until its forecasts are trusted
            notification_topic=on_call,
        )


def build_app(outdir: str | None = None, context: dict[str, Any] | None = None) -> App:
    app = App(outdir=outdir, context=context)
    ShopStack(app, "ShopWithForescale")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app(outdir="cdk.out").synth()
