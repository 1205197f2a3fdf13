"""The task contract (tests/task_contract.py; see tests/test_task_contract.py) of every
built-in task in no named group of CONTRACT_GROUPS: token classification, question answering,
embedding, and any task added later."""
from tests.task_contract import contract_checkpoint, contract_exports  # noqa: F401  (fixtures)
from tests.task_contract import run_contract, variants_of_group


def test_other_tasks_keep_the_contract(contract_exports, tmp_path):  # noqa: F811
    run_contract(variants_of_group("other"), contract_exports, tmp_path)
