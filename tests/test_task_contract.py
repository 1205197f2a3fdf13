"""The contract every registered task (and every label variant) keeps, on a few synthetic rows
and one tiny scratch ELECTRA, in seconds (Model Garden's "dummy input" idea); the machinery and
the fixtures are in tests/task_contract.py. This file runs text-classification's variants and
the checks that need no training; tests/test_task_contract_pair.py and
tests/test_task_contract_other_tasks.py run the other tasks' contracts (one file per group, so
pytest-xdist spreads them over its workers).

A new task passes it or fails it before any slow test runs: register the task, give it a
`ContractFixture` (`_fixture` in tests/task_contract.py, or `check_contract` from its own test,
as tests/test_task_plugin_example.py does).
"""
import subprocess
import sys

import pytest

import pipeline_config
from tests.task_contract import (  # noqa: F401  (re-exported: other tests import them from here)
    BUILTIN_VARIANTS, CONTRACT_GROUPS, STRING, WORDS, ContractFixture, _config, _example,
    _fixture, _transform, _variant_id, check_contract, contract_checkpoint, contract_exports,
    reload_and_call_every_signature, run_contract, variants_of_group)
from trainer import tasks


def test_every_registered_variant_has_a_fixture():
    missing = [_variant_id(cls) for cls in tasks.all_variants()
               if cls.__module__.startswith("trainer.")
               and _fixture(cls.name, cls.options) is None]
    assert not missing


def test_task_names_need_no_tensorflow():
    code = ("import sys\nfrom trainer import tasks\nprint(tasks.task_names())\n"
            "assert 'tensorflow' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "text-classification" in proc.stdout


def test_every_builtin_task_is_in_one_contract_file():
    """Each built-in variant's contract runs in exactly one of the contract files."""
    groups = [variants_of_group(g) for g in [*CONTRACT_GROUPS, "other"]]
    assert sorted(map(_variant_id, BUILTIN_VARIANTS)) == sorted(
        _variant_id(cls) for group in groups for cls in group)
    assert all(groups)


def test_text_classification_variants_keep_the_contract(contract_exports, tmp_path):
    called = run_contract(variants_of_group("classification"), contract_exports, tmp_path)
    assert "text-classification candidate serve_text" in called


def test_traits_come_from_the_registry_and_drive_the_config_checks():
    """A built-in task's classes carry the registry's TensorFlow-free Traits, which is what the
    config is validated and resolved with before TensorFlow loads."""
    for cls in BUILTIN_VARIANTS:
        assert cls.traits is tasks.BUILTIN_TRAITS[cls.name], cls
        config = pipeline_config.PipelineConfig()
        config.task = cls.name
        resolved = pipeline_config.resolve(config, pipeline_config.CheckpointFacts("hub"),
                                           tasks.traits(cls.name))
        assert resolved.model.max_seq_length == cls.traits.default_max_seq_length
        config.model.max_seq_length = cls.traits.min_seq_length - 1
        with pytest.raises(pipeline_config.ConfigError,
                           match=f"at least {cls.traits.min_seq_length} for {cls.name}"):
            pipeline_config.validate(config, tasks.traits(cls.name))
        config.model.max_seq_length = config.task_options.doc_stride  # windows not apart
        if cls.traits.strided_windows:
            with pytest.raises(pipeline_config.ConfigError, match="--doc-stride"):
                pipeline_config.validate(config, tasks.traits(cls.name))
        else:
            pipeline_config.validate(config, tasks.traits(cls.name))
        config.model.max_seq_length = None
        config.eval.simple_baseline = False
        if cls.traits.chance_bar_needs_baseline:
            with pytest.raises(pipeline_config.ConfigError, match="eval.simple_baseline=false"):
                pipeline_config.validate(config, tasks.traits(cls.name))
        else:
            pipeline_config.validate(config, tasks.traits(cls.name))