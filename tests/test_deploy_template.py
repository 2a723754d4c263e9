"""deploy/template.yaml: cfn-lint passes, and the template holds the split it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "template.yaml"


def load() -> dict:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(TEMPLATE))


def test_cfn_lint_passes():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")  # the console script pip installed beside python
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_functions_split_the_operations_and_the_keys():
    resources = load()["Resources"]
    functions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert {f["Environment"]["Variables"]["TEGRIDY_OPERATIONS"] for f in functions.values()} == {"tokenize", "detokenize"}
    assert all(f["Handler"] == "tegridy_tokens.service.handler.lambda_handler" and f["Runtime"] == "python3.12"
               for f in functions.values())
    assert all("ReservedConcurrentExecutions" in f for f in functions.values())
    for key, role in (("TokenizeKey", "TokenizeRole"), ("DetokenizeKey", "DetokenizeRole")):
        statements = resources[key]["Properties"]["KeyPolicy"]["Statement"]
        allowed = [s for s in statements if s["Effect"] == "Allow" and "kms:Decrypt" in str(s["Action"])]
        assert [s["Principal"]["AWS"] for s in allowed] == [{"Fn::GetAtt": [role, "Arn"]}]
        [deny] = [s for s in statements if s["Effect"] == "Deny"]
        assert deny["Action"] == "kms:Decrypt" and deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == {"Fn::GetAtt": [role, "Arn"]}
    detokenize_actions = str(resources["DetokenizePolicy"]["Properties"]["PolicyDocument"])
    assert "BatchWriteItem" not in detokenize_actions and "TokenizeKey" not in detokenize_actions
    assert "DetokenizeKey" not in str(resources["TokenizePolicy"]["Properties"]["PolicyDocument"])
    table = resources["VaultTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEType"] == "KMS" and "KMSMasterKeyId" in table["SSESpecification"]


def test_cfn_lint_informational_rules_pass():
    # -c I: the informational rules too (I3011: a stateful resource without a retain policy).
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), "-c", "I", "--", str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_keys_logs_and_the_vault_survive_a_stack_deletion_or_replacement():
    resources = load()["Resources"]
    kept = {name: r for name, r in resources.items()
            if r["Type"] in ("AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::DynamoDB::Table", "AWS::SecretsManager::Secret")}
    assert {r["Type"] for r in kept.values()} == {"AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::DynamoDB::Table",
                                                  "AWS::SecretsManager::Secret"}
    for name, resource in kept.items():
        assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == ("Retain", "Retain"), name
    assert resources["VaultTable"]["Properties"]["DeletionProtectionEnabled"] is True
    log_groups = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(log_groups) == 2
    for group in log_groups:
        [(_, (key, _attribute))] = group["KmsKeyId"].items()
        assert resources[key]["Type"] == "AWS::KMS::Key"
        # Its key policy lets CloudWatch Logs (the service, for this account's log groups) use it.
        [statement] = [s for s in resources[key]["Properties"]["KeyPolicy"]["Statement"]
                       if s["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}]
        assert {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"} <= set(statement["Action"])
        assert "kms:EncryptionContext:aws:logs:arn" in statement["Condition"]["ArnLike"]


def policy_actions(resources: dict) -> dict[str, set[str]]:
    """Every action each role of the template may take, from every policy that names the role."""
    actions: dict[str, set[str]] = {name: set() for name, r in resources.items() if r["Type"] == "AWS::IAM::Role"}

    def add(role: str, document: dict) -> None:
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow" and "NotAction" not in statement
            listed = statement["Action"]
            actions[role] |= {listed} if isinstance(listed, str) else set(listed)

    for name, resource in resources.items():
        properties = resource["Properties"]
        if resource["Type"] == "AWS::IAM::Role":
            assert "ManagedPolicyArns" not in properties, name
            for policy in properties.get("Policies", []):
                add(name, policy["PolicyDocument"])
        elif resource["Type"] in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = [properties["RoleName"]] if "RoleName" in properties else properties.get("Roles", [])
            for role in roles:
                add(role["Ref"], properties["PolicyDocument"])
    return actions


def test_each_role_may_do_exactly_its_part():
    resources = load()["Resources"]
    assert policy_actions(resources) == {
        # Reads entries and the keyring record; adds new entries only (no delete, no update, no batch write,
        # which can delete): the code always sends PutItem with attribute_not_exists.
        "TokenizeRole": {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "kms:Decrypt",
                         "logs:CreateLogStream", "logs:PutLogEvents"},
        "DetokenizeRole": {"dynamodb:BatchGetItem", "dynamodb:GetItem", "kms:Decrypt",
                           "logs:CreateLogStream", "logs:PutLogEvents"},
        # Erasure reads entries and writes tombstones over them; no key, no GetItem of the keyring record.
        "ErasureRole": {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"},
    }
    [put] = [s for s in resources["TokenizePolicy"]["Properties"]["PolicyDocument"]["Statement"]
             if "dynamodb:PutItem" in s["Action"]]
    assert put["Action"] == "dynamodb:PutItem"
    # Only items whose key is a token: never the keyring record (#keyring).
    assert put["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["tgr_*", "fmt:*"]}}
    # Erasure too touches only items whose key is a token, and neither key policy lets it decrypt.
    [erasure] = resources["ErasurePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert erasure["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["tgr_*", "fmt:*"]}}
    for key in ("TokenizeKey", "DetokenizeKey"):
        assert "ErasureRole" not in str(resources[key]["Properties"]["KeyPolicy"])


def test_detokenize_functions_serve_their_scopes():
    template = load()
    resources = template["Resources"]
    assert template["Parameters"]["DetokenizeScopes"]["Default"] == "default"
    assert resources["DetokenizeFunction"]["Properties"]["Environment"]["Variables"]["TEGRIDY_SCOPES"] == {
        "Ref": "DetokenizeScopes"}
    second = resources["SecondDetokenizeFunction"]
    assert second["Condition"] == "HasSecondDetokenize"
    assert second["Properties"]["Environment"]["Variables"]["TEGRIDY_SCOPES"] == {"Ref": "SecondDetokenizeScopes"}
    # The only role the private keys' policy lets decrypt.
    assert second["Properties"]["Role"] == {"Fn::GetAtt": ["DetokenizeRole", "Arn"]}


def test_the_audit_key_comes_from_a_secret_the_template_makes():
    template = load()
    resources = template["Resources"]
    assert not any("audit" in name.lower() for name in template.get("Parameters", {}))
    [secret] = [name for name, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret"]
    generated = resources[secret]["Properties"]["GenerateSecretString"]
    # 43 letters and digits and a "=": base64 of 32 bytes.
    assert generated["PasswordLength"] == 43 and generated["ExcludePunctuation"] is True
    for function in (r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"):
        key = function["Environment"]["Variables"]["TEGRIDY_AUDIT_KEY"]
        assert key == {"Fn::Sub": "{{resolve:secretsmanager:${%s}:SecretString}}=" % secret}
