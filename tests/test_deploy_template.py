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
