"""A small file trains: free text never gets a value domain (components/free_text_schema.py),
drift/skew comparisons on splits too small to measure are skipped, and the run warns that its
figures are noisy. Through the `electra-tfx` command, as a user runs it."""
import pytest

from tests import fixtures
from tests.e2e_support import (TINY_ARGS, build_tiny_checkpoint, component_states, run_cli,
                               run_in_process)

pytestmark = pytest.mark.slow

# One epoch and no simple baseline: what matters is that the run reaches the Evaluator.
QUICK = [*TINY_ARGS, "--epochs", "1", "--set", "eval.simple_baseline=false"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory)


def _assert_trained_to_the_evaluator(proc, output):
    out = proc.stdout + proc.stderr
    assert "Unexpected string values" not in out, out[-3000:]
    assert "Data validation found" not in out, out[-3000:]
    states = component_states(output)
    for component in ("AnomalyGate", "Transform", "Trainer", "Evaluator"):
        assert states.get(component) == "ran", (component, states, proc.stderr[-3000:])
    # The gate decided (blessed or not); its rules are tested elsewhere.
    assert states.get("blessing_gate") == "ran", (states, proc.stderr[-3000:])
    assert proc.returncode not in (1, 2), proc.stderr[-3000:]
    assert "WARNING: small data: " in proc.stderr
    assert "figures are noisy" in proc.stderr


def test_a_30_row_file_trains_with_an_inferred_schema(tmp_path, tiny_checkpoint):
    """SchemaGen lists every training text as the text column's domain when there are fewer
    than 100 of them; the eval split then used to fail with "Unexpected string values"."""
    train = fixtures.write_csv(tmp_path / "reviews.csv", fixtures.sentiment_rows(30, seed=11))
    output = tmp_path / "out"
    proc = run_cli("--train", str(train), "--checkpoint", tiny_checkpoint, "--output",
                   str(output), *QUICK)
    _assert_trained_to_the_evaluator(proc, output)
    # SchemaGen's own schema still pins the texts; the one the pipeline used does not.
    (inferred,) = (output / "artifacts" / "SchemaGen" / "schema").glob("*/schema.pbtxt")
    (used,) = (output / "artifacts" / "FreeTextSchema" / "schema").glob("*/schema.pbtxt")
    assert 'name: "text"\n  value:' in inferred.read_text()
    assert 'string_domain {\n  name: "label"' in used.read_text()
    assert 'name: "text"\n  value:' not in used.read_text()


def test_a_30_row_file_trains_with_a_curated_schema_that_pins_the_text(tmp_path,
                                                                        tiny_checkpoint):
    """A curated schema with a string domain on the text column (as a copy of SchemaGen's
    schema has) and the default schema's drift/skew thresholds of 0.1: the text domain is
    dropped, and skew, which 30 rows cannot measure, is skipped with a warning, not failed."""
    rows = fixtures.sentiment_rows(30, seed=11)
    train = fixtures.write_csv(tmp_path / "reviews.csv", rows)
    texts = "".join(f'  value: "{text}"\n' for text, _ in rows[:20])
    schema = tmp_path / "schema.pbtxt"
    schema.write_text(f"""
feature {{ name: "text" type: BYTES domain: "text" presence {{ min_fraction: 1.0 }}
          shape {{ dim {{ size: 1 }} }} }}
feature {{ name: "label" type: BYTES domain: "label" presence {{ min_fraction: 1.0 }}
          shape {{ dim {{ size: 1 }} }}
          skew_comparator {{ infinity_norm {{ threshold: 0.1 }} }} }}
feature {{ name: "text_length" type: INT lifecycle_stage: VALIDATION_DERIVED
          validation_derived_source {{ deriver_name: "text_length" source_path {{ step: "text" }} }}
          skew_comparator {{ jensen_shannon_divergence {{ threshold: 0.1 }} }} }}
string_domain {{ name: "label" value: "neg" value: "pos" }}
string_domain {{
  name: "text"
{texts}}}
""")
    output = tmp_path / "out"
    proc = run_cli("--train", str(train), "--schema", str(schema), "--checkpoint",
                   tiny_checkpoint, "--output", str(output), *QUICK)
    _assert_trained_to_the_evaluator(proc, output)
    assert component_states(output)["DriftSkewGate"] == "ran"
    assert "these drift/skew comparisons were skipped" in proc.stderr
    assert "skew of 'label' (train " in proc.stderr


def test_an_eval_label_training_never_had_is_still_an_error(tmp_path, tiny_checkpoint, capfd):
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(30, seed=11))
    evaluation = fixtures.write_csv(tmp_path / "eval" / "eval.csv",
                                    fixtures.sentiment_rows(9, seed=12) + [("Meh, it was ok.",
                                                                            "maybe")])
    code = run_in_process("--train", str(train), "--eval", str(evaluation), "--checkpoint",
                          tiny_checkpoint, "--output", str(tmp_path / "out"), *QUICK,
                          stop_after="AnomalyGate")
    err = capfd.readouterr().err
    assert code == 2, err[-3000:]
    assert "'maybe'" in err and "never occurs in the training data" in err
