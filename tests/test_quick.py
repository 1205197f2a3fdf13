"""--quick: a smoke run on one's own data (a seeded sample of rows, a few training steps, no
pre-training, a short simple baseline), kept apart from real runs and saying so everywhere it
reports."""
import collections
import json
import re

import pytest

import pipeline_config
from pipeline import cli, sample
from tests import fixtures
from tests.e2e_support import run_cli


def _config(*argv):
    args = cli.build_parser().parse_args(["run", *argv])
    return cli.config_from_args(args)


def test_reservoir_keeps_the_original_order_and_is_seeded():
    chosen, total = sample.reservoir(range(1000), 50, seed=3)
    assert total == 1000 and len(chosen) == 50 == len(set(chosen))
    assert chosen == sorted(chosen)
    assert sample.reservoir(range(1000), 50, seed=3)[0] == chosen
    assert sample.reservoir(range(1000), 50, seed=4)[0] != chosen
    assert sample.reservoir(range(7), 50, seed=3) == (list(range(7)), 7)


def test_reservoir_draws_every_row_alike():
    """Each of 20 rows is drawn in about k/n = 1/4 of 4,000 samples; the tail rows too (a
    reservoir that kept the first rows would never draw them)."""
    counts = collections.Counter()
    for seed in range(4000):
        counts.update(sample.reservoir(range(20), 5, seed)[0])
    assert set(counts) == set(range(20))
    # Binomial(4000, 0.25): sd 27; 6 sd either side.
    assert all(1000 - 165 < c < 1000 + 165 for c in counts.values()), counts


def test_quick_settings_are_applied_first_and_flags_override_them():
    cfg = _config("--quick", "--output", "/tmp/x")
    assert cfg.quick and cfg.data.sample_rows == 400 and cfg.pretrain.steps == 0
    assert (cfg.train.epochs, cfg.train.steps_per_epoch, cfg.eval.baseline_epochs) == (2, 10, 3)
    assert cfg.output_dir == "/tmp/x/quick" and cfg.run_pipeline_name == "electra-tfx-quick"
    assert cfg.serving_dir.startswith("/tmp/x/quick/")
    assert "QUICK RUN" in pipeline_config.quick_note(cfg)
    cfg = _config("--quick", "--epochs", "5", "--set", "data.sample_rows=1000")
    assert (cfg.train.epochs, cfg.data.sample_rows, cfg.train.steps_per_epoch) == (5, 1000, 10)
    real = _config("--output", "/tmp/x")
    assert not real.quick and real.output_dir == "/tmp/x" and real.data.sample_rows is None
    assert pipeline_config.quick_note(real) is None


def test_a_sample_too_small_to_say_anything_is_refused():
    with pytest.raises(pipeline_config.ConfigError, match="data.sample_rows must be at least 20"):
        _config("--set", "data.sample_rows=5")


def test_samples_of_train_and_eval_in_their_original_order(tmp_path):
    import tensorflow as tf
    train_rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(600)]
    train = fixtures.write_csv(tmp_path / "in" / "train.csv", train_rows)
    evals = fixtures.write_jsonl(tmp_path / "in" / "eval.jsonl", train_rows[:300])
    cfg = pipeline_config.PipelineConfig(output=str(tmp_path / "out"))
    cfg.data.train, cfg.data.eval, cfg.data.sample_rows = str(train), str(evals), 100

    def texts(path):
        return [tf.train.Example.FromString(r.numpy()).features.feature["text"]
                .bytes_list.value[0].decode() for r in tf.data.TFRecordDataset(path)]

    sample.sample_inputs(cfg)
    assert cfg.data.train == str(tmp_path / "out" / "sample" / "train.tfrecord")
    sampled = texts(cfg.data.train)
    assert len(sampled) == 100 == len(set(sampled))
    assert sampled == sorted(sampled, key=lambda t: int(t.split()[1]))  # file order
    assert int(sampled[-1].split()[1]) > 300  # drawn from the whole file, not its head
    assert len(texts(cfg.data.eval)) == 50
    again = pipeline_config.PipelineConfig(output=str(tmp_path / "out2"))
    again.data.train, again.data.eval, again.data.sample_rows = str(train), str(evals), 100
    assert texts(sample.sample_inputs(again).data.train) == sampled  # seeded


def test_small_files_and_tfds_splits():
    cfg = pipeline_config.PipelineConfig()
    cfg.data.sample_rows = 10_000  # more than the embedded data has: read as it is
    before = cfg.data.train
    assert sample.sample_inputs(cfg).data.train == before
    cfg.data.train, cfg.data.eval = "tfds:glue/sst2", "tfds:glue/sst2:validation"
    sample.sample_inputs(cfg)
    assert (cfg.data.train, cfg.data.eval) == ("tfds:glue/sst2:train[:10000]",
                                               "tfds:glue/sst2:validation[:5000]")
    cfg.data.train = "tfds:imdb_reviews:train[:5%]"
    assert sample.sample_inputs(cfg).data.train == "tfds:imdb_reviews:train[:5%]"


@pytest.mark.slow
def test_quick_run_ends_apart_from_real_runs_and_says_so(tmp_path):
    """From scratch (whose default is 100 pre-training steps): none; 2 epochs of at most 10
    steps on 400 of 900 rows; every output under OUTPUT/quick/."""
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(900, seed=5))
    output = tmp_path / "out"
    proc = run_cli("--quick", "--train", str(train), "--checkpoint", "scratch",
                   "--max-seq-length", "32", "--output", str(output),
                   own_process=True)  # the time a user waits, start-up included
    log = proc.stdout + proc.stderr
    assert proc.returncode in (0, 3), log[-4000:]
    print(f"--quick from scratch: {proc.seconds:.0f} s")  # docs/benchmarks.md records it
    assert "QUICK RUN (--quick): a sample of 400 rows" in proc.stdout
    assert "Sampled 400 of 900 rows" in proc.stdout
    assert "Pretrainer" not in log and "Pre-training step" not in log
    assert "Training: Epoch 2/2" in proc.stdout and "Epoch 3/" not in proc.stdout
    assert "Simple baseline (TF-IDF): 3 epochs" in proc.stdout
    # Nothing beside real runs: their metadata, serving folder and reports stay untouched.
    assert sorted(p.name for p in output.iterdir()) == ["quick"]
    quick = output / "quick"
    assert (quick / "metadata.sqlite").is_file()
    report = (quick / "report" / "index.html").read_text()
    assert "QUICK RUN" in report
    assert re.search(r"Candidate: \w+ [0-9.]+", proc.stdout), proc.stdout[-3000:]
    assert "Last blessed model: not compared (a quick run)." in proc.stdout
    counts = re.search(r"Data: (\d+) eval, (\d+) train examples", proc.stdout)
    assert counts and int(counts.group(1)) + int(counts.group(2)) == 400, proc.stdout[-3000:]
    if proc.returncode == 0:
        card = next((quick / "serving").rglob("model_card.json"))
        assert "QUICK RUN" in json.dumps(json.loads(card.read_text()))


def test_a_quick_runs_model_card_says_so_first():
    from pipeline.report import model_card
    from pipeline.report.model import ReportData
    cfg = _config("--quick", "--output", "/tmp/x")
    data = ReportData(run_id="r", output_dir="/tmp/x/quick")
    data.quick_note = pipeline_config.quick_note(cfg)
    assert model_card.limitations(data)[0].startswith("QUICK RUN (--quick)")
    assert not any("QUICK" in line for line in model_card.limitations(
        ReportData(run_id="r", output_dir="/tmp/x")))


def test_a_quick_run_skips_the_drift_and_skew_checks_a_real_run_makes(tmp_path):
    """The embedded data's curated schema sets drift/skew thresholds: a real run checks them; a
    quick run's sample is too small for them (and says so in its note). A quick run has one
    Evaluator, against the simple baseline, and none against the last blessed model."""
    from pipeline.pipeline import create_pipeline
    from trainer.run_context import RunContext
    ids = {}
    for argv in ((), ("--quick",)):
        cfg = _config(*argv, "--output", str(tmp_path), "--max-seq-length", "16")
        pipeline = create_pipeline(RunContext(cfg, str(tmp_path), True), {"0": 5, "1": 5})
        ids[argv] = {c.id for c in pipeline.components}
    assert {"DriftSkewValidator", "DriftSkewGate"} <= ids[()]
    assert not {"DriftSkewValidator", "DriftSkewGate"} & ids[("--quick",)]
    assert {"Evaluator", "latest_blessed_model_resolver", "baseline_evaluator"} <= ids[()]
    assert not {"Evaluator", "latest_blessed_model_resolver"} & ids[("--quick",)]
    assert {"baseline_evaluator", "blessing_gate", "Pusher"} <= ids[("--quick",)]
    assert "no drift or skew check" in pipeline_config.quick_note(_config("--quick"))
