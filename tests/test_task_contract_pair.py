"""The task contract (tests/task_contract.py; see tests/test_task_contract.py) of
text-pair-classification's variants: plain, multi-label and regression."""
from tests.task_contract import contract_checkpoint, contract_exports  # noqa: F401  (fixtures)
from tests.task_contract import run_contract, variants_of_group


def test_text_pair_variants_keep_the_contract(contract_exports, tmp_path):  # noqa: F811
    called = run_contract(variants_of_group("pair"), contract_exports, tmp_path)
    assert "text-pair-classification candidate serve_text" in called
