"""The SAM template: cfn-lint finds nothing, and it declares what the handler needs, and no more."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from cfnlint.api import lint_file  # type: ignore[import-untyped]
from cfnlint.decode.decode import decode_str  # type: ignore[import-untyped]

from handler.app import create_app
from handler.mail import QueuedMail
from handler.settings import Settings
from handler.storage import aws
from handler.storage.aws import records as aws_records
from handler.storage.aws.forwards import forward_job_item
from tests.helpers.paths import ROOT

TEMPLATE = ROOT / "template.yaml"
ORIGIN = {"Ref": "SiteOrigin"}
OWN_DISTRIBUTION = {"Fn::Sub": "https://${SiteDistribution.DomainName}"}
# Every action the handler's role may be given; a new one is a decision: add it here and in the template.
ALLOWED_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "s3:PutObject",
    "s3:GetObject",
    "s3:DeleteObject",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",  # the contacts a list of them finds in the byKind index, read from the table
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",  # for a transaction's ConditionCheck, should the store use one
    "dynamodb:Query",
    # The stream of queued e-mail, read by the function's event source mapping.
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "secretsmanager:GetSecretValue",
    "ses:SendRawEmail",
    # The stream's event source mapping keeps a batch that failed every retry in the StreamFailures queue.
    "sqs:SendMessage",
}
# How boto3 operations the handler calls are authorized, where it is not "<service>:<OperationName>".
TRANSACTION_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
# What the event source mapping does with the function's role, not the handler's code.
MAPPING_ACTIONS = {*STREAM_ACTIONS, "sqs:SendMessage"}
SERVICES = {"s3": "s3", "dynamodb": "dynamodb", "ses": "ses", "secretsmanager": "secretsmanager"}
# Presigning makes no call, but what the presigned request does is authorized as the signer's action.
PRESIGNED = {"generate_presigned_post": "s3:PutObject", "generate_presigned_url": "s3:GetObject"}
OBJECT_PREFIXES = ("requests/", "uploads/pending/", "attachments/")
# Replies by e-mail, which SES stores and the handler only reads.
INBOUND_PREFIX = "inbound/"
# Routes that only the embedded default serves (it stands in for S3); on AWS they answer 404.
LOCAL_ONLY_ROUTES = {("POST", "/v1/uploads/{}/file")}
SAMPLE_PARAMETERS = {
    "SiteOrigin": "https://forms.example.com",
    "MailFrom": "Kundeservice <no-reply@forms.example.com>",
    "SenderIdentity": "forms.example.com",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    document, errors = decode_str(TEMPLATE.read_text(encoding="utf-8"))
    assert not errors, errors
    assert document is not None
    return document  # type: ignore[no-any-return]


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every IAM role's inline policies, with the role's logical id."""
    for name, role in resources_of(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement


def as_list(value: Any) -> list[Any]:
    """A policy element that may be one value or a list, as a list."""
    return value if isinstance(value, list) else [value]


def resolve(value: Any, template: dict[str, Any]) -> Any:
    """A template value with sample (else default) parameters, ``<LogicalId>`` (``<LogicalId.Attribute>``)
    for resources, and the second branch of ``If``."""
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), *_ = value.items()
        if function == "Ref":
            if argument in SAMPLE_PARAMETERS:
                return SAMPLE_PARAMETERS[argument]
            return str(template.get("Parameters", {}).get(argument, {}).get("Default", f"<{argument}>"))
        if function == "Fn::GetAtt":
            return f"<{'.'.join(argument) if isinstance(argument, list) else argument}>"
        if function == "Fn::If":
            return resolve(argument[2], template)
        if function == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: f"<{m.group(1)}>", argument)
    return value


def test_cfn_lint_finds_no_error_and_no_warning() -> None:
    matches = lint_file(TEMPLATE)
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_the_function_runs_the_packaged_entry_point_on_python312_arm64(template: dict[str, Any]) -> None:
    (function,) = resources_of(template, "AWS::Serverless::Function").values()
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert properties["CodeUri"] == "dist/lambda.zip"  # what scripts/package_lambda.py writes by default
    assert properties["Timeout"] < 30  # below API Gateway's 30 s, so the client gets the handler's answer
    module, _, attribute = properties["Handler"].rpartition(".")
    source = ROOT / (module.replace(".", "/") + ".py")
    assert source.is_file(), source
    defined = {node.name for node in ast.parse(source.read_text(encoding="utf-8")).body if hasattr(node, "name")}
    assert attribute in defined


def test_the_table_is_the_one_the_aws_store_uses(template: dict[str, Any]) -> None:
    table = template["Resources"]["RequestsTable"]
    properties = table["Properties"]
    expected = aws.table_definition("unused")
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert properties["KeySchema"] == expected["KeySchema"]
    assert sorted(properties["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert properties["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]
    indexes = {index["IndexName"]: index for index in properties["GlobalSecondaryIndexes"]}
    requester = indexes[aws.REQUESTER_INDEX]
    assert aws.REQUESTER_INDEX == "byRequester"
    assert [(k["AttributeName"], k["KeyType"]) for k in requester["KeySchema"]] == [
        ("requesterKey", "HASH"),
        ("receivedKey", "RANGE"),
    ]
    # Each index keeps only what a list of requests shows; anything else is read from the table.
    summary = ["id", "reference", "status", "form", "category", "requester", "title", "receivedAt", "updatedAt"]
    assert all(
        index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": summary} for index in indexes.values()
    )
    defined = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    assert set(defined.values()) == {"S"}
    assert properties["BillingMode"] == expected["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": aws.TTL_ATTRIBUTE, "Enabled": True}
    assert aws.TTL_ATTRIBUTE == "expiresAt"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_every_bucket_is_private_encrypted_and_refuses_plain_http(template: dict[str, Any]) -> None:
    buckets = resources_of(template, "AWS::S3::Bucket")
    assert "RequestsBucket" in buckets
    policies = {p["Properties"]["Bucket"]["Ref"]: p for p in resources_of(template, "AWS::S3::BucketPolicy").values()}
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == dict.fromkeys(
            ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
        ), name
        assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], name
        (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms"), name
        assert bucket["DeletionPolicy"] == "Retain", name
        denials = [
            s
            for s in policies[name]["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": False}}
        ]
        assert denials and denials[0]["Action"] == "s3:*", name


def test_only_the_site_may_upload_to_the_requests_bucket_from_a_browser(template: dict[str, Any]) -> None:
    (rule,) = template["Resources"]["RequestsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["AllowOrigins"]
    assert rule["AllowedMethods"] == ["POST"]
    assert "*" not in str(rule)


def test_the_requests_bucket_expires_abandoned_uploads_and_keeps_requests(template: dict[str, Any]) -> None:
    rules = template["Resources"]["RequestsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    assert any(
        r.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": 1} and "Prefix" not in r for r in rules
    )
    assert any(r.get("Prefix") == "uploads/pending/" and r.get("ExpirationInDays") == 1 for r in rules)
    # Replies by e-mail are kept a month once taken into the conversation (or refused).
    assert any(r.get("Prefix") == INBOUND_PREFIX and r.get("ExpirationInDays") == 30 for r in rules)
    # Nothing ever expires the current version of a request's document.
    expiring = [r.get("Prefix", "") for r in rules if "ExpirationInDays" in r]
    assert all(prefix.startswith(("uploads/", INBOUND_PREFIX)) for prefix in expiring)


def test_cors_allows_the_site_origin_and_nothing_else(template: dict[str, Any]) -> None:
    site_origin = {"Fn::If": ["HostSite", OWN_DISTRIBUTION, ORIGIN]}
    assert template["Conditions"]["HostSite"] == {"Fn::Equals": [ORIGIN, "cloudfront"]}
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] in ([ORIGIN], [site_origin])
    assert "AllowCredentials" not in cors  # the session travels in the Authorization header, not in cookies
    assert set(cors["AllowMethods"]) <= {"GET", "POST", "DELETE", "OPTIONS"}  # DELETE: signing out
    assert {"authorization", "content-type", "idempotency-key", "accept-language"} <= set(cors["AllowHeaders"])
    assert "*" not in str(cors)
    variables = template["Resources"]["RequestsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SDF_ALLOWED_ORIGINS"] == cors["AllowOrigins"][0]
    pattern = template["Parameters"]["SiteOrigin"]["AllowedPattern"]
    assert re.fullmatch(pattern, "https://forms.example.com") and re.fullmatch(pattern, "cloudfront")
    for bad in ("*", "http://forms.example.com", "https://forms.example.com/", "https://*.example.com"):
        assert not re.fullmatch(pattern, bad), bad


def test_the_api_is_throttled(template: dict[str, Any]) -> None:
    properties = template["Resources"]["HttpApi"]["Properties"]
    assert properties["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ThrottleRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottleBurstLimit"},
    }
    assert "StageName" not in properties  # the $default stage: no stage prefix in the paths


def test_the_api_routes_are_exactly_the_handlers_routes(template: dict[str, Any], tmp_path: Path) -> None:
    def normalized(method: str, path: str) -> tuple[str, str]:
        return method.upper(), re.sub(r"\{[^}]+\}", "{}", path)

    events = list(template["Resources"]["RequestsFunction"]["Properties"]["Events"].values())
    api_events = [e for e in events if e["Type"] == "HttpApi"]
    routes = {normalized(e["Properties"]["Method"], e["Properties"]["Path"]) for e in api_events}
    assert all(e["Properties"]["ApiId"] == {"Ref": "HttpApi"} for e in api_events)
    assert {e["Type"] for e in events} <= {"HttpApi", "Schedule", "DynamoDB", "EventBridgeRule"}
    app = create_app(Settings(data_dir=tmp_path))
    handled = {normalized(m, path) for path, operations in app.openapi()["paths"].items() for m in operations}
    assert routes == handled - LOCAL_ONLY_ROUTES
    throttled = template["Resources"]["HttpApi"]["Properties"].get("RouteSettings", {})
    assert {normalized(*key.split(" ", 1)) for key in throttled} <= routes


def test_a_schedule_retries_the_mail_that_could_not_be_sent(template: dict[str, Any]) -> None:
    events = template["Resources"]["RequestsFunction"]["Properties"]["Events"].values()
    (schedule,) = [e["Properties"] for e in events if e["Type"] == "Schedule"]
    assert schedule["Enabled"] is True and schedule["Schedule"].startswith("rate(")
    # A "Schedule" event reaches the function as EventBridge's "Scheduled Event", which the entry point handles.
    entry = (ROOT / "handler" / "lambda_entry.py").read_text(encoding="utf-8")
    assert '"aws.events"' in entry and '"Scheduled Event"' in entry


def test_the_role_allows_only_listed_actions_on_named_resources(template: dict[str, Any]) -> None:
    (function,) = resources_of(template, "AWS::Serverless::Function").values()
    assert function["Properties"]["Role"] == {"Fn::GetAtt": ["RequestsFunctionRole", "Arn"]}
    assert "Policies" not in function["Properties"]  # no SAM policy templates or managed policies besides the role
    for role in resources_of(template, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    found = list(statements(template))
    assert found
    for role_name, statement in found:
        assert statement["Effect"] == "Allow", (role_name, statement)
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in as_list(statement["Action"]):
            assert action in ALLOWED_ACTIONS, (role_name, action)
        for resource in as_list(statement["Resource"]):
            text = resolve(resource, template)
            assert isinstance(text, str) and text != "*", (role_name, resource)
            allowed_patterns = {f"<RequestsBucket.Arn>/{prefix}*" for prefix in (*OBJECT_PREFIXES, INBOUND_PREFIX)}
            assert "*" not in text or text in allowed_patterns, (role_name, resource)


def test_the_role_grants_each_action_on_its_own_resources(template: dict[str, Any]) -> None:
    granted: dict[str, list[str]] = {}
    for _, statement in statements(template):
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).extend(str(resolve(r, template)) for r in as_list(statement["Resource"]))
    for action, resources in granted.items():
        if action == "s3:DeleteObject":  # documents never committed, attachment copies of refused requests
            assert resources == ["<RequestsBucket.Arn>/requests/*", "<RequestsBucket.Arn>/attachments/*"], action
        elif action == "s3:GetObject":  # and the replies SES stored, which are only read
            prefixes = (*OBJECT_PREFIXES, INBOUND_PREFIX)
            assert sorted(resources) == sorted(f"<RequestsBucket.Arn>/{prefix}*" for prefix in prefixes)
        elif action.startswith("s3:"):
            assert sorted(resources) == sorted(f"<RequestsBucket.Arn>/{prefix}*" for prefix in OBJECT_PREFIXES)
        elif action == "dynamodb:Query":
            indexes = template["Resources"]["RequestsTable"]["Properties"]["GlobalSecondaryIndexes"]
            expected = ["<RequestsTable.Arn>"] + [f"<RequestsTable.Arn>/index/{i['IndexName']}" for i in indexes]
            assert sorted(resources) == sorted(expected), action
        elif action in STREAM_ACTIONS:
            assert resources == ["<RequestsTable.StreamArn>"], action
        elif action.startswith("dynamodb:"):
            assert resources == ["<RequestsTable.Arn>"], action
        elif action.startswith("logs:"):
            assert resources == ["<FunctionLogGroup.Arn>"], action
        elif action == "secretsmanager:GetSecretValue":  # and the ticket system's secret, when forwarding
            assert resources == ["<SessionSecret>", "<AWS::NoValue>", "<AWS::NoValue>"]
            kept = next(st for _, st in statements(template) if action in as_list(st["Action"]))["Resource"][1:]
            assert kept == [
                {"Fn::If": ["Forwarding", {"Ref": "ForwardSecret"}, {"Ref": "AWS::NoValue"}]},
                {"Fn::If": ["SignInWithOrganizations", {"Ref": "OrganizationProviders"}, {"Ref": "AWS::NoValue"}]},
            ]
        elif action == "sqs:SendMessage":
            assert resources == ["<StreamFailures.Arn>"]
        elif action == "ses:SendRawEmail":
            assert resources == ["arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/<SenderIdentity>"]
        else:
            pytest.fail(f"{action} has no expected resource here")


def boto3_calls() -> dict[str, set[str]]:
    """The IAM actions the handler's boto3 calls need, by the file that makes them."""
    session = botocore.session.get_session()
    operations: dict[str, set[str]] = {}
    for service, prefix in SERVICES.items():
        for name in session.get_service_model(service).operation_names:
            operations.setdefault(xform_name(name), set()).add(f"{prefix}:{name}")
    needed: dict[str, set[str]] = {}
    for path in sorted((ROOT / "handler").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "boto3" not in source:
            continue
        calls = set(re.findall(r"\.([a-z_]+)\(", source))
        for call in calls & PRESIGNED.keys():
            needed.setdefault(path.relative_to(ROOT).as_posix(), set()).add(PRESIGNED[call])
        for call in calls & operations.keys():
            actions = operations[call]
            if call == "transact_write_items":
                kinds = set(re.findall(r'"(Put|Update|Delete|ConditionCheck)":', source))
                actions = {TRANSACTION_ITEM_ACTIONS[kind] for kind in kinds}
            elif call == "head_object":
                actions = {"s3:GetObject"}
            elif call == "copy_object":
                actions = {"s3:GetObject", "s3:PutObject"}
            needed.setdefault(path.relative_to(ROOT).as_posix(), set()).update(actions)
    return needed


def test_every_aws_call_the_handler_makes_is_allowed(template: dict[str, Any]) -> None:
    granted = {action for _, statement in statements(template) for action in as_list(statement["Action"])}
    needed = boto3_calls()
    assert needed, "found no boto3 calls in handler/: has the AWS store moved?"
    missing = {file: sorted(actions - granted) for file, actions in needed.items() if actions - granted}
    assert missing == {}


def test_the_role_grants_nothing_the_handler_does_not_use(template: dict[str, Any]) -> None:
    granted = {action for _, statement in statements(template) for action in as_list(statement["Action"])}
    used = set().union(*boto3_calls().values())
    assert granted - used - {"logs:CreateLogStream", "logs:PutLogEvents"} - MAPPING_ACTIONS == set()


def test_queued_mail_on_the_tables_stream_wakes_the_function(template: dict[str, Any]) -> None:
    table = template["Resources"]["RequestsTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "KEYS_ONLY"}
    events = template["Resources"]["RequestsFunction"]["Properties"]["Events"].values()
    (stream,) = [e["Properties"] for e in events if e["Type"] == "DynamoDB"]
    assert stream["Stream"] == {"Fn::GetAtt": ["RequestsTable", "StreamArn"]}
    patterns = [json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]]
    assert patterns == [
        {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": prefix}]}}}}
        for prefix in ("MAIL#", "FORWARD#")
    ]
    # the keys the store gives queued e-mail and a request's forwarding job match the filters
    mail = QueuedMail("m-1", ("kari@example.no",), b"{}", 0, "", datetime.now(UTC))
    assert aws_records.mail_item(mail)["pk"] == "MAIL#m-1"
    assert forward_job_item("r-1", "zendesk", datetime.now(UTC))["pk"].startswith("FORWARD#")


def test_the_functions_settings_are_complete_and_known(template: dict[str, Any]) -> None:
    variables = template["Resources"]["RequestsFunction"]["Properties"]["Environment"]["Variables"]
    settings_source = (ROOT / "handler" / "settings.py").read_text(encoding="utf-8")
    for name in variables:
        assert f'"{name}"' in settings_source, f"{name} is not read by handler/settings.py"
    environment = {name: str(resolve(value, template)) for name, value in variables.items()}
    settings = Settings.from_env(environment)  # raises ConfigurationError if a required setting is missing
    assert settings.storage == "aws"
    assert settings.allowed_origins == (SAMPLE_PARAMETERS["SiteOrigin"],)
    assert settings.api_base_path == "/"


def test_logs_are_kept_for_the_chosen_days(template: dict[str, Any]) -> None:
    groups = resources_of(template, "AWS::Logs::LogGroup")
    assert len(groups) >= 2
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())
    logging = template["Resources"]["RequestsFunction"]["Properties"]["LoggingConfig"]
    assert logging["LogGroup"] == {"Ref": "FunctionLogGroup"}


def test_outputs_name_the_api_url_and_the_stores(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"}
    assert outputs["BucketName"]["Value"] == {"Ref": "RequestsBucket"}
    assert outputs["TableName"]["Value"] == {"Ref": "RequestsTable"}
    assert outputs["FunctionName"]["Value"] == {"Ref": "RequestsFunction"}
