"""question-answering through the whole pipeline: `electra-tfx run --task question-answering`
trains a tiny scratch model on the SQuAD-style fixture and pushes a model whose served answers
are the Evaluator's. (Its own file, beside tests/test_task_question_answering.py, so that
pytest-xdist runs the two slow QA tests on different workers.)"""
import json

import pytest

import pipeline_config
from tests.e2e_support import run_cli
from tests.test_task_question_answering import QA_DATA, _rows
from trainer import qa_postprocess


@pytest.mark.slow
def test_pipeline_trains_and_pushes_a_model_that_answers(tmp_path):
    import subprocess
    import sys
    import textwrap

    from trainer.checkpoint import build_scratch_checkpoint

    rows = _rows("train.jsonl")
    texts = [r["question"] for r in rows] + [r["context"] for r in rows]
    checkpoint = build_scratch_checkpoint(texts, str(tmp_path / "ckpt"), pipeline_config.ModelConfig(
        scratch_vocab_size=300, scratch_hidden_size=32, scratch_num_layers=1,
        scratch_num_heads=2, scratch_intermediate_size=64))
    output = tmp_path / "out"
    proc = run_cli(
        "--task", "question-answering", "--train", str(QA_DATA / "train.jsonl"),
        "--eval", str(QA_DATA / "eval.jsonl"), "--checkpoint", checkpoint,
        "--output", str(output), "--max-seq-length", "48", "--doc-stride", "16",
        "--epochs", "1", "--batch-size", "32", "--learning-rate", "1e-3",
        "--set", "train.bucket_boundaries=32", "--set", "model_name=electra_qa",
        "--set", "eval.min_accuracy=0", "--schema", str(QA_DATA / "schema.pbtxt"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    (version,) = (output / "serving" / "electra_qa").iterdir()
    # TF Serving warm-up: eval questions and contexts for serve_text, as tf.Examples for
    # serving_default (docs/serving.md); the Pusher replayed them before it pushed.
    from components import serving_warmup
    requests = [log.predict_log.request for log in serving_warmup.read_warmup(str(version))]
    assert [r.model_spec.signature_name for r in requests] == \
        ["serving_default", "serving_default", "serve_text", "serve_text"]
    assert set(requests[2].inputs) == {"question", "context"}
    eval_rows = _rows("eval.jsonl")
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        model = tf.saved_model.load(sys.argv[1])
        fn = model.signatures["serve_text"]
        rows = json.loads(sys.argv[2])
        out = fn(question=tf.constant([r["question"] for r in rows]),
                 context=tf.constant([r["context"] for r in rows]))
        assert not any(m.split(".")[0] in ("transformers", "trainer", "pipeline", "components")
                       for m in sys.modules), "the served model needed project code"
        print(json.dumps({
            "inputs": sorted(fn.structured_input_signature[1]),
            "dtypes": {k: v.dtype.name for k, v in out.items()},
            "answer": [a.decode() for a in out["answer"].numpy()],
            "start": out["start"].numpy().tolist(), "end": out["end"].numpy().tolist()}))
    """)
    served = subprocess.run([sys.executable, "-c", script, str(version), json.dumps(eval_rows)],
                            capture_output=True, text=True, timeout=300,
                            env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert served.returncode == 0, served.stderr[-3000:]
    result = json.loads(served.stdout.strip().splitlines()[-1])
    assert result["inputs"] == ["context", "question"]
    assert result["dtypes"] == {"answer": "string", "score": "float32", "start": "int64",
                                "end": "int64"}
    for row, answer, start, end in zip(eval_rows, result["answer"], result["start"],
                                       result["end"]):
        assert (answer == "" and start == end == -1) or row["context"][start:end] == answer
    # The Evaluator's TFMA EM/F1 are SQuAD's scores of these served answers.
    from pipeline.run_record import read_run
    metrics = read_run(str(output / "metadata.sqlite")).candidate_metrics
    want = qa_postprocess.squad_scores(result["answer"], [r["answers"]["text"] for r in eval_rows])
    assert metrics["example_count"] == len(eval_rows)
    assert metrics["exact_match"] == pytest.approx(want["exact_match"] / 100, abs=1e-6)
    assert metrics["f1"] == pytest.approx(want["f1"] / 100, abs=1e-6)
