"""text-classification's multi-label and regression variants through the whole pipeline
(`electra-tfx run --multi-label` / `--regression`) on a tiny scratch model; the variants'
unit and quality tests are in tests/test_task_multilabel_regression.py. (Its own file, so that
pytest-xdist runs these two runs and the quality tests on different workers.)"""
import json
import math

import numpy as np
import pytest

import pipeline_config
from tests.test_task_multilabel_regression import multi_label_rows, regression_rows


@pytest.fixture(scope="module")
def topic_checkpoint(tmp_path_factory):
    from trainer.checkpoint import build_scratch_checkpoint
    texts = [t for t, _ in multi_label_rows(300, 1) + regression_rows(300, 1)]
    cfg = pipeline_config.ModelConfig(scratch_vocab_size=300, scratch_hidden_size=32,
                                      scratch_num_layers=1, scratch_num_heads=2,
                                      scratch_intermediate_size=64)
    return build_scratch_checkpoint(texts, str(tmp_path_factory.mktemp("ckpt") / "tiny"), cfg)


def _pushed(output):
    (version,) = (output / "serving" / "electra_classifier").iterdir()
    return version


@pytest.mark.slow
def test_multi_label_end_to_end(tmp_path, topic_checkpoint):
    from tests import fixtures
    from tests.e2e_support import TINY_ARGS, run_cli, serve as _serve
    from tests.test_task_multilabel_regression import FILLER, TOPICS
    train = fixtures.write_csv(tmp_path / "train.csv", multi_label_rows(480, 2))
    # The eval file also holds a label set no training row has (all three topics): a new set
    # of known labels, which the validation must let through (the labels are checked one by
    # one, not the sets: Task.schema_free_columns).
    triples = [(" ".join([FILLER[i], *(TOPICS[t][i % 4] for t in ("food", "sport", "tech"))]),
                "food,sport,tech") for i in range(6)]
    eval_file = fixtures.write_csv(tmp_path / "eval.csv", multi_label_rows(90, 7) + triples)
    # A plumbing test: a tiny random model does not learn this reliably in a few epochs, so
    # the bar is lowered and the simple baseline need not be beaten; learning is shown by
    # test_multi_label_learns_with_pretrained_checkpoint.
    proc = run_cli("--train", str(train), "--eval", str(eval_file), "--checkpoint",
                   topic_checkpoint, "--multi-label",
                   "--output", str(tmp_path / "out"), *TINY_ARGS, "--set", "eval.min_accuracy=0",
                   "--no-require-beat-baseline")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "BLESSED" in proc.stdout and "NOT BLESSED" not in proc.stdout, proc.stdout[-3000:]
    held_out = multi_label_rows(60, 99)
    result = _serve(_pushed(tmp_path / "out"), f"""
        texts = {[t for t, _ in held_out]!r}
        out = model.signatures["serve_text"](text=tf.constant(texts))
        emb = model.signatures["serve_embedding"](text=tf.constant(texts[:3]))["embedding"]
        print(json.dumps({{
            "labels": [l.decode() for l in out["labels"].numpy()],
            "probabilities": out["probabilities"].numpy().tolist(),
            "predictions": out["predictions"].numpy().tolist(),
            "signatures": sorted(model.signatures.keys()),
            "dtypes": {{k: v.dtype.name for k, v in out.items()}},
            "embedding_norms": tf.norm(emb, axis=-1).numpy().tolist(),
            "embedding_shape": emb.shape.as_list(),
        }}))
    """)
    assert {"serving_default", "serve_text", "serve_embedding"} <= set(result["signatures"])
    assert result["dtypes"] == {"labels": "string", "predictions": "int64",
                                "probabilities": "float32"}
    assert len(result["probabilities"][0]) == 3
    names = sorted({label for _, truth in held_out for label in truth.split(",")})
    for probs, preds, labels in zip(result["probabilities"], result["predictions"],
                                    result["labels"]):
        assert preds == [int(p >= 0.5) for p in probs]
        assert set(filter(None, labels.split(","))) <= set(names)
        assert len(list(filter(None, labels.split(",")))) == sum(preds)
    assert result["embedding_shape"] == [3, 32]
    assert result["embedding_norms"] == pytest.approx([1.0] * 3, abs=1e-5)


@pytest.mark.slow
def test_regression_end_to_end(tmp_path, topic_checkpoint):
    from tests import fixtures
    from tests.e2e_support import TINY_ARGS, run_cli, serve as _serve
    train = fixtures.write_csv(tmp_path / "train.csv", regression_rows(480, 2),
                               header=("text", "score"))
    # TINY_ARGS' 1e-2 makes this regression head diverge after its second epoch on some
    # batch orders (val Pearson 0.98, then -0.98); 3e-3 learns it steadily.
    # On these template sentences TF-IDF regression is near perfect (MSE 0.001 against the tiny
    # ELECTRA's 0.003): beating it is waived, which the summary must then say with the gap.
    proc = run_cli("--train", str(train), "--checkpoint", topic_checkpoint, "--regression",
                   "--label-column", "score", "--output", str(tmp_path / "out"), *TINY_ARGS,
                   "--learning-rate", "3e-3", "--no-require-beat-baseline")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "BLESSED" in proc.stdout and "NOT BLESSED" not in proc.stdout, proc.stdout[-3000:]
    assert "  absolute bar: passed" in proc.stdout and "  above chance: passed" in proc.stdout
    from pipeline.run_record import read_run
    record = read_run(str(tmp_path / "out" / "metadata.sqlite"))
    assert record.require_beat_baseline is False and record.baseline_gap is not None
    worse = "WARNING: the pushed model is worse than the simple baseline by"
    # Said plainly in the summary and the model card exactly when the candidate lost.
    assert (worse in proc.stdout) == (record.baseline_gap < 0), proc.stdout[-3000:]
    card = json.loads((_pushed(tmp_path / "out") / "model_card.json").read_text())
    assert card["what_happened"]["beat_simple_baseline"].startswith(
        "no: worse by" if record.baseline_gap < 0 else "yes")
    assert "waived" in card["what_happened"]["beat_simple_baseline"]
    held_out = regression_rows(80, 99)
    result = _serve(_pushed(tmp_path / "out"), f"""
        texts = {[t for t, _ in held_out]!r}
        out = model.signatures["serve_text"](text=tf.constant(texts))
        print(json.dumps({{"score": out["score"].numpy().tolist(),
                          "keys": sorted(out.keys()),
                          "shape": out["score"].shape.as_list()}}))
    """)
    assert result["keys"] == ["score"] and result["shape"] == [80]
    truth = [float(y) for _, y in held_out]
    pearson = float(np.corrcoef(result["score"], truth)[0, 1])
    mse = float(np.mean((np.array(result["score"]) - truth) ** 2))
    assert pearson >= 0.8 and mse < np.var(truth) / 2, (pearson, mse, np.var(truth))
    assert not math.isnan(pearson)
    # The Evaluator computed Pearson and Spearman (TFMA has only r² built in) on the eval split.
    from pipeline.run_record import read_run
    metrics = read_run(str(tmp_path / "out" / "metadata.sqlite")).candidate_metrics
    assert metrics["pearson"] >= 0.8 and metrics["spearman"] >= 0.7, metrics
