"""Least privilege and protection, read off the synthesized templates (and cdk-nag / cfn-lint verdicts)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from events.contracts import ALL_CONTRACTS, BusinessEvent
from functions.adapters.tables import ALL_TABLES
from infra_cdk.access import (
    ALL_PREFIXES,
    AUDIT_PREFIX,
    ENABLED_TAG_KEY,
    FUNCTION_ACCESS,
    OPERATOR_TARGETS_KEY,
    TARGETS_KEY,
)
from tests.infra.conftest import (
    STATEFUL,
    STATELESS,
    TRUSTED_ACCOUNT,
    Synthesized,
    as_list,
    function_ids,
    render,
    role_statements,
)

SCALING_ACTIONS = {
    "autoscaling:SetDesiredCapacity",
    "autoscaling:UpdateAutoScalingGroup",
    "ecs:UpdateService",
    "application-autoscaling:RegisterScalableTarget",
}
POLICY_PROPERTIES = {
    "AWS::IAM::Policy": "PolicyDocument",
    "AWS::IAM::ManagedPolicy": "PolicyDocument",
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
}


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy statement of a template: identity, resource, key and event-bus policies."""
    for logical, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        key = POLICY_PROPERTIES.get(resource["Type"])
        if key:
            for statement in props[key]["Statement"]:
                yield logical, statement
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical, statement
            yield logical, props["AssumeRolePolicyDocument"]["Statement"][0]
        if resource["Type"] == "AWS::Events::EventBusPolicy":
            yield logical, props["Statement"]


def test_no_policy_anywhere_allows_a_wildcard_action(all_templates):
    # GIVEN every policy of every synthesized template THEN no Allow statement names "service:*" or "*"
    allows = 0
    for stack, template in all_templates:
        for logical, statement in _statements(template):
            if statement["Effect"] == "Allow":
                allows += 1
                wildcards = [a for a in as_list(statement.get("Action", [])) if "*" in a]
                assert not wildcards, f"{stack}/{logical} allows {wildcards}"
            else:  # denials may be broad: they only ever take permissions away
                assert statement["Effect"] == "Deny"
    assert allows > 50  # the Allow statements checked, denials not counted


def _scaling_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical, s)
        for logical, s in _statements(template)
        if s["Effect"] == "Allow" and SCALING_ACTIONS & set(as_list(s.get("Action", [])))
    ]


def test_only_the_executor_may_change_capacity(stateless):
    executor_role = stateless["Resources"][function_ids(stateless)["executor"]]["Properties"]["Role"]["Fn::GetAtt"][0]
    executor_policies = {
        logical
        for logical, r in stateless["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": executor_role} in r["Properties"]["Roles"]
    }
    holders = {logical for logical, _ in _scaling_statements(stateless)}
    assert holders and holders <= executor_policies


def test_executor_changes_only_tagged_targets_and_names_none(stateless):
    # GIVEN web-asg (floor via modes), api-ecs (direct) and batch/asg:1 (forecast_only)
    statements = [statement for _, statement in _scaling_statements(stateless)]
    assert statements
    for statement in statements:
        resources = [render(r) for r in as_list(statement["Resource"])]
        condition = statement.get("Condition", {}).get("StringEquals", {})
        tag_conditions = {k: v for k, v in condition.items() if k.endswith(f"ResourceTag/{ENABLED_TAG_KEY}")}
        # THEN every statement over groups/services is narrowed by the forescale:enabled=true tag ...
        assert set(tag_conditions.values()) == {"true"}, statement
        # ... and none names a configured group or service (a mode change needs no deploy)
        assert "*" not in resources
        assert not any(name in r for r in resources for name in ("web-asg-prod", "prod/api", "batch-workers"))


def test_each_function_reaches_only_its_own_tables_and_prefixes(stateless):
    table_arns = {f"{STATEFUL}-{spec.logical_name}TableArn": spec.logical_name for spec in ALL_TABLES}
    for name, logical in function_ids(stateless).items():
        access = FUNCTION_ACCESS[name]
        role = stateless["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        tables, objects = set(), set()
        for statement in role_statements(stateless, role):
            for resource in as_list(statement["Resource"]):
                text = json.dumps(resource)
                if any(a.startswith("dynamodb:") for a in as_list(statement["Action"])):
                    tables.add(table_arns[resource["Fn::ImportValue"]])
                if not any(a.startswith("s3:") for a in as_list(statement["Action"])):
                    continue
                if f"{STATEFUL}-BucketArn" in text or f"{STATEFUL}-AuditBucketArn" in text:
                    objects.add(render(resource).removeprefix("TOKEN").lstrip("/"))
                if as_list(statement["Action"]) == ["s3:ListBucket"]:
                    # listing the audit bucket (the dashboard's widget reads the trail): its prefix only
                    if f"{STATEFUL}-AuditBucketArn" in text:
                        assert statement["Condition"]["StringLike"]["s3:prefix"] == [f"{AUDIT_PREFIX}*"], name
                    continue
                # the audit trail is written to the audit bucket only, nothing else is
                assert (f"{STATEFUL}-AuditBucketArn" in text) == (render(resource).endswith(f"/{AUDIT_PREFIX}*")), name
        assert tables == set(access.tables), name
        # every function reads both targets objects (deployed and operator's); only the API writes the latter
        expected = {f"{p}*" for p in (*access.reads, *access.writes)} | {TARGETS_KEY, OPERATOR_TARGETS_KEY}
        if access.lists:
            expected.add("")  # ListBucket on the bucket itself, conditioned on the listed prefixes
        assert objects == expected, name
        assert {o.split("/")[0] + "/" for o in objects if o.endswith("*")} <= set(ALL_PREFIXES)


def test_audit_table_is_append_only_for_every_function(stateless):
    audit = f"{STATEFUL}-AuditTableArn"
    for name, logical in function_ids(stateless).items():
        role = stateless["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        for statement in role_statements(stateless, role):
            if {"Fn::ImportValue": audit} in as_list(statement["Resource"]):
                assert not {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} & set(
                    as_list(statement["Action"])
                ), name


def test_functions_publish_only_their_own_event_sources(stateless):
    for name, logical in function_ids(stateless).items():
        role = stateless["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        puts = [s for s in role_statements(stateless, role) if "events:PutEvents" in as_list(s["Action"])]
        publishes = FUNCTION_ACCESS[name].publishes
        assert len(puts) == (1 if publishes else 0), name
        for statement in puts:
            assert statement["Condition"]["StringEquals"]["events:source"] == sorted({c.SOURCE for c in publishes})


def test_only_the_collector_and_the_trainer_invoke_a_function_and_only_themselves(stateless):
    ids = function_ids(stateless)
    for name, logical in ids.items():
        role = stateless["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        invokes = [s for s in role_statements(stateless, role) if "lambda:InvokeFunction" in as_list(s["Action"])]
        if FUNCTION_ACCESS[name].invokes_itself:
            assert [s["Resource"] for s in invokes] == [{"Fn::GetAtt": [logical, "Arn"]}], name
        else:
            assert not invokes, name
    assert sorted(n for n, access in FUNCTION_ACCESS.items() if access.invokes_itself) == ["collector", "trainer"]


def test_custom_metrics_go_only_into_the_forescale_namespace(stateless):
    for name, logical in function_ids(stateless).items():
        role = stateless["Resources"][logical]["Properties"]["Role"]["Fn::GetAtt"][0]
        puts = [s for s in role_statements(stateless, role) if "cloudwatch:PutMetricData" in as_list(s["Action"])]
        assert len(puts) == (1 if FUNCTION_ACCESS[name].puts_metrics else 0), name
        for statement in puts:
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Forescale"}}


def test_operator_api_requires_iam_auth_and_nobody_is_granted_public_invoke(stateless):
    urls = [r for r in stateless["Resources"].values() if r["Type"] == "AWS::Lambda::Url"]
    assert [u["Properties"]["AuthType"] for u in urls] == ["AWS_IAM"]
    for resource in stateless["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Permission":
            assert resource["Properties"].get("FunctionUrlAuthType") in (None, "AWS_IAM")
            assert resource["Properties"]["Principal"] != "*"


def test_bus_accepts_events_only_from_own_or_trusted_accounts_and_forescale_sources(stateful):
    statements = {
        s["Sid"].removeprefix("cdk-"): s for _, s in _statements(stateful) if "events:PutEvents" in as_list(s["Action"])
    }
    other_accounts = statements["DenyOtherAccounts"]
    assert other_accounts["Effect"] == "Deny" and other_accounts["Principal"] == {"AWS": "*"}
    allowed_accounts = other_accounts["Condition"]["StringNotEqualsIfExists"]["aws:PrincipalAccount"]
    assert allowed_accounts == [{"Ref": "AWS::AccountId"}, TRUSTED_ACCOUNT]
    sources = statements["DenyUnknownSources"]
    assert sources["Effect"] == "Deny"
    assert sorted(sources["Condition"]["StringNotEquals"]["events:source"]) == sorted({c.SOURCE for c in ALL_CONTRACTS})
    trusted = statements["AllowBusinessEventsFromTrustedAccounts"]
    assert trusted["Condition"] == {"StringEquals": {"events:source": [BusinessEvent.SOURCE]}}
    assert TRUSTED_ACCOUNT in json.dumps(trusted["Principal"])


def test_audit_objects_can_be_neither_deleted_nor_overwritten(stateful):
    statements = {s.get("Sid"): s for _, s in _statements(stateful)}
    deletion, overwrite = statements["DenyAuditDeletion"], statements["DenyAuditOverwrite"]
    for statement in (deletion, overwrite):
        assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
        assert render(statement["Resource"]).endswith("/*")  # every object of the audit bucket
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(deletion["Action"])
    assert overwrite["Action"] == "s3:PutObject"
    assert overwrite["Condition"] == {"Null": {"s3:if-none-match": "true"}}  # only create-if-absent writes
    tls = [
        s for s in statements.values() if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert tls and all(s["Effect"] == "Deny" for s in tls)


def test_encryption_at_rest_everywhere(all_templates):
    for stack, template in all_templates:
        for logical, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            kind = resource["Type"]
            where = f"{stack}/{logical}"
            if kind == "AWS::DynamoDB::Table":
                assert props["SSESpecification"]["SSEEnabled"] is True, where
            elif kind == "AWS::S3::Bucket":
                assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], where
            elif kind == "AWS::SQS::Queue":
                assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, where
            elif kind == "AWS::KMS::Key":
                assert props["EnableKeyRotation"] is True, where
            elif kind == "AWS::SNS::Topic" and stack == STATELESS:  # the example uses its team's own topic
                assert "KmsMasterKeyId" in props, where


def test_no_secret_or_credential_in_templates(all_templates):
    text = json.dumps([t for _, t in all_templates])
    for marker in ("AKIA", "aws_secret_access_key", "BEGIN RSA PRIVATE KEY", "password"):
        assert marker.lower() not in text.lower()


# ----------------------------------------------------------------------------------------- verdicts


def test_cdk_nag_ran_and_left_no_unacknowledged_finding(synthesized: Synthesized, example: Synthesized):
    # GIVEN both apps were synthesized with AwsSolutionsChecks (a finding raises at synth)
    for assembly in (synthesized, example):
        report = json.loads((assembly.outdir / "validation-report.json").read_text())
        assert all(not plugin.get("violations") for plugin in report.get("pluginReports", []))


def test_cfn_lint_reports_nothing_on_any_template(synthesized: Synthesized, example: Synthesized):
    from cfnlint.api import lint_file

    paths = [*synthesized.template_paths.values(), *example.template_paths.values()]
    assert len(paths) == 3
    for path in paths:
        matches = lint_file(path)  # every rule, warnings included, no rule ignored
        assert not matches, "\n".join(str(m) for m in matches)
