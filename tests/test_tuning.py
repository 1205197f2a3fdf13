"""--tune: the search TFX's Tuner runs (trainer/tuning.py) on the contract test's tiny model,
its settings (pipeline_config.TuneConfig, refused before TensorFlow loads) and its place in
the compiled pipeline."""
import dataclasses
import json
import pathlib
import subprocess
import sys

import pytest
import tensorflow as tf

import pipeline_config
from pipeline import cli
from tests import fixtures
from tests.test_compile import IMAGE, ROOT, _parameter
from tests.test_task_contract import (  # noqa: F401  (contract_checkpoint: a fixture)
    STRING, WORDS, ContractFixture, _config, _transform, contract_checkpoint)
from trainer import tasks


def _rows(n=48):
    """More rows than the contract's six, so that a 25% tuning split holds several."""
    positive, negative = ["great", "pizza", "golf", "paris"], ["awful", "laptop", "phone"]
    rows = []
    for i in range(n):
        words = positive if i % 2 else negative
        text = " ".join(WORDS[(i + k) % len(WORDS)] if k % 2 else words[(i + k) % len(words)]
                        for k in range(3 + i % 4))
        rows.append({"text": text, "label": "pos" if i % 2 else "neg"})
    return rows


@pytest.fixture(scope="module")
def transformed(contract_checkpoint, tmp_path_factory):
    """The rows through Transform once: (the output folder, the transformed examples)."""
    cls = tasks.variants("text-classification")[0]
    out = tmp_path_factory.mktemp("tuning")
    context = _config(cls, _fixture(), contract_checkpoint)
    _, examples = _transform(tasks.create(context), context, _fixture(), str(out))
    return out, examples


def _fixture():
    return ContractFixture(_rows(), {"text": STRING, "label": STRING}, {"text": ["golf"]},
                           {"neg": 24, "pos": 24}, ["neg", "pos"])


def _tune_fn_args(tmp_path, checkpoint, transformed, tune):
    from tfx.components.trainer.fn_args_utils import FnArgs
    out, examples = transformed
    context = _config(tasks.variants("text-classification")[0], _fixture(), checkpoint)
    custom = {**context.to_custom_config(), "tune": dataclasses.asdict(tune)}
    # The eval split is not given to the search: a path that would fail if it were read.
    return FnArgs(train_files=[examples], eval_files=[str(tmp_path / "no-eval-split-*.gz")],
                  transform_graph_path=str(out / "transform"), custom_config=custom,
                  working_dir=str(tmp_path / "tuner"), base_model=None)


def _held_out(examples, percent):
    """The records of the tuning split, counted here one by one (not by trainer/tuning.py)."""
    held = total = 0
    for record in tf.data.TFRecordDataset([examples], compression_type="GZIP"):
        total += 1
        held += int(tf.strings.to_hash_bucket_fast(record, 100).numpy() < percent)
    return held, total


def test_two_trials_differ_are_scored_on_the_tuning_split_and_the_best_is_returned(
        contract_checkpoint, transformed, tmp_path):
    from trainer import tuning
    tune = pipeline_config.TuneConfig(enabled=True, trials=2, steps_per_trial=3,
                                      holdout_percent=25, learning_rate_range=[1e-4, 1e-2],
                                      epochs_values=[1, 2], batch_size_values=[4, 8])
    fn_args = _tune_fn_args(tmp_path, contract_checkpoint, transformed, tune)
    examples = transformed[1]
    result = tuning.tuner_fn(fn_args)
    tuner = result.tuner
    tuner.search(**result.fit_kwargs)

    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    assert len(trials) == 2
    values = [t.hyperparameters.values for t in trials]
    assert values[0] != values[1]
    for v in values:
        assert 1e-4 <= v["learning_rate"] <= 1e-2 and v["batch_size"] in (4, 8)
        assert 0.6 <= v["layer_decay"] <= 1.0 and 0.0 <= v["warmup_ratio"] <= 0.2
    held, total = _held_out(examples, 25)
    assert 0 < held < total
    for trial in trials:
        metrics = trial.metrics.metrics
        # Scored on the held-out share of the training split (the eval split was never read).
        assert metrics["tuning_examples"].get_best_value() == held
        assert 0.0 <= trial.score <= 1.0
        # Each trial's steps are its own budget (3), shared by its epochs.
        epochs = trial.hyperparameters.values["epochs"]
        assert metrics["training_steps"].get_best_value() <= epochs * -(-3 // epochs)
    assert tuner.oracle.objective.name == "tuning_accuracy"
    best = tuner.get_best_hyperparameters()[0].values
    assert best == max(trials, key=lambda t: t.score).hyperparameters.values

    # What TFX's Tuner writes (best_hyperparameters.txt) is what run_fn applies.
    written = json.loads(json.dumps(tuner.get_best_hyperparameters()[0].get_config()))
    context = tuning.apply_hyperparameters(
        _config(tasks.variants("text-classification")[0],
                ContractFixture([], {}, {}), contract_checkpoint), written)
    for name in tuning.SEARCHED:
        assert getattr(context.config.train, name) == pytest.approx(best[name])


def test_a_failed_trial_stops_the_search(contract_checkpoint, transformed, tmp_path):
    """A trial that breaks is an error, never a silently skipped trial."""
    import keras_tuner
    from trainer import tuning
    tune = pipeline_config.TuneConfig(enabled=True, trials=1, steps_per_trial=1,
                                      holdout_percent=25)
    fn_args = _tune_fn_args(tmp_path, contract_checkpoint, transformed, tune)
    fn_args.transform_graph_path = str(tmp_path / "missing-transform-graph")
    result = tuning.tuner_fn(fn_args)
    with pytest.raises(keras_tuner.errors.FatalError, match="trial .* failed"):
        result.tuner.search()


def test_each_algorithm_builds_its_oracle():
    from trainer import tuning
    objective = tasks.variants("text-classification")[0].tuning_objective
    for algorithm, kind in (("random", "RandomSearchOracle"),
                            ("bayesian", "BayesianOptimizationOracle"),
                            ("hyperband", "HyperbandOracle")):
        tune = pipeline_config.TuneConfig(algorithm=algorithm, trials=3)
        oracle = tuning.make_oracle(tune, objective, seed=1)
        assert type(oracle).__name__ == kind and oracle.max_trials == 3
        assert oracle.objective.direction == "max"
    fixed = pipeline_config.TuneConfig(learning_rate_range=[1e-4, 1e-4], epochs_values=[2])
    space = {hp.name: type(hp).__name__ for hp in tuning.search_space(fixed).space}
    assert space["learning_rate"] == "Fixed" and space["epochs"] == "Fixed"
    assert space["batch_size"] == "Choice" and space["layer_decay"] == "Float"
    # Hyperband's first rounds get a third of the steps.
    assert tuning.trial_steps(fixed, {"tuner/epochs": 1}) == 20
    assert tuning.trial_steps(fixed, {}) == 60


def test_every_trained_task_has_a_tuning_objective():
    for cls in tasks.all_variants():
        if cls.__module__.startswith("trainer."):
            assert (cls.tuning_objective is not None) == cls.traits.tunable, cls
            if cls.tuning_objective:
                assert cls.tuning_objective.direction in ("max", "min")


# ---- settings -------------------------------------------------------------------------

def _config_of(*argv):
    args = cli.build_parser().parse_args(["run", *argv])
    return cli.config_from_args(args)


def test_tune_flags_and_set_reach_the_config():
    cfg = _config_of("--tune", "--tune-trials", "6", "--set", "tune.algorithm=bayesian",
                     "--set", "tune.learning_rate_range=1e-5,3e-4", "--set", "tune.epochs_values=2",
                     "--set", "tune.steps_per_trial=30")
    assert cfg.tune.enabled and cfg.tune.trials == 6 and cfg.tune.algorithm == "bayesian"
    assert cfg.tune.learning_rate_range == [1e-5, 3e-4] and cfg.tune.epochs_values == [2]
    assert cfg.tune.steps_per_trial == 30
    assert not _config_of().tune.enabled and _config_of().tune.trials == 4
    # The tune fields are named apart from train's: a bare name still means train's field.
    assert _config_of("--set", "epochs=2", "--set", "layer_decay=0.9").train.epochs == 2


@pytest.mark.parametrize("argv, message", [
    (["--tune-trials", "0"], "--tune-trials must be at least 1"),
    (["--set", "tune.algorithm=grid"], "expected one of random, bayesian, hyperband"),
    (["--set", "tune.learning_rate_range=1e-3,1e-5"], "low <= high"),
    (["--set", "tune.learning_rate_range=0,1e-3"], "tune.learning_rate_range must be above 0"),
    (["--set", "tune.layer_decay_range=0.5,1.5"], "tune.layer_decay_range must be above 0 and at most 1"),
    (["--set", "tune.warmup_ratio_range=0,1"], "tune.warmup_ratio_range must be from 0 to below 1"),
    (["--set", "tune.batch_size_values=16,16"], "tune.batch_size_values must list distinct values"),
    (["--set", "tune.epochs_values=0"], "tune.epochs_values must list distinct values of at least 1"),
    (["--set", "tune.holdout_percent=80"], "tune.holdout_percent must be from 1 to 50"),
    (["--set", "tune.steps_per_trial=0"], "tune.steps_per_trial must be at least 1"),
    (["--set", "tune.trails=3"], "did you mean tune.trials"),
    (["--tune", "--task", "embedding"], "nothing to tune"),
])
def test_tune_mistakes_are_refused(argv, message):
    with pytest.raises(pipeline_config.ConfigError, match=message):
        _config_of(*argv)


def test_tune_mistakes_exit_2_before_tensorflow_loads():
    code = ("import sys\nfrom pipeline import cli\n"
            "code = cli.main(['run', '--tune', '--set', 'tune.algorithm=grid'])\n"
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was loaded'\n"
            "sys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "tune.algorithm=grid: expected one of" in proc.stderr


# ---- the compiled pipeline ----------------------------------------------------------------

def test_tune_adds_the_tuner_before_the_trainer_when_compiled(tmp_path):
    train = fixtures.write_csv(tmp_path / "train.csv", fixtures.sentiment_rows(30))
    compiled = {}
    for extra in ((), ("--tune", "--tune-trials", "3")):
        out = tmp_path / f"pipeline{len(extra)}.json"
        assert cli.main(["compile", "--image", IMAGE, "--pipeline-root", ROOT, "--out", str(out),
                         "--checkpoint", "google/electra-small-discriminator",
                         "--train", str(train), *extra]) == 0
        compiled[bool(extra)] = json.loads(out.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "Tuner" not in compiled[False]
    dag = compiled[True]
    assert "Tuner" in dag and "Tuner" in dag["Trainer"]["dependentTasks"]
    hyperparameters = dag["Trainer"]["inputs"]["artifacts"]["hyperparameters"]
    assert hyperparameters["taskOutputArtifact"] == {
        "producerTask": "Tuner", "outputArtifactKey": "best_hyperparameters"}
    assert _parameter(dag["Tuner"], "tuner_fn") == "trainer.tuning.tuner_fn"
    custom = json.loads(_parameter(dag["Tuner"], "custom_config"))
    assert custom["tune"]["trials"] == 3 and custom["objective"]["metric"] == "accuracy"
    # The search never gets the gate's eval split.
    assert json.loads(_parameter(dag["Tuner"], "eval_args"))["splits"] == ["train"]
    # The Trainer's config carries no tune section: changing the search keys only the Tuner.
    trainer_config = json.loads(_parameter(dag["Trainer"], "custom_config"))["config"]
    assert "tune" not in trainer_config


# ---- the summary, the report and the model card -----------------------------------------

TUNING = {"objective": {"metric": "accuracy", "direction": "max", "label": "accuracy"},
          "trials": [{"trial": 1, "score": 0.71, "learning_rate": 3e-4, "layer_decay": 0.8,
                      "warmup_ratio": 0.1, "epochs": 2, "batch_size": 32},
                     {"trial": 2, "score": 0.83, "learning_rate": 6e-4, "layer_decay": 0.9,
                      "warmup_ratio": 0.05, "epochs": 3, "batch_size": 16},
                     {"trial": 3, "score": 0.64, "learning_rate": 5e-5, "layer_decay": 0.7,
                      "warmup_ratio": 0.0, "epochs": 1, "batch_size": 16}],
          "best": {"learning_rate": 6e-4, "layer_decay": 0.9, "warmup_ratio": 0.05,
                   "epochs": 3, "batch_size": 16},
          "cached": False,
          "settings": {"algorithm": "random", "steps_per_trial": 60, "holdout_percent": 20}}


def test_report_and_model_card_show_the_trials_the_best_and_the_chosen_values(tmp_path):
    from pipeline.report import model_card
    from tests.test_report import full_run, render
    data = full_run()
    data.tuning = dict(TUNING)
    page = render(tmp_path, data)
    assert "tuning_trials.png" in page.images
    rows = page.rows["tuning"]
    assert rows[0] == ["trial", "accuracy", "learning_rate", "layer_decay", "warmup_ratio",
                       "epochs", "batch_size"]
    assert [r[0] for r in rows[1:]] == ["1", "2 (best)", "3"]
    assert "best: trial 2, accuracy 0.83" in page.full_text
    assert "the Trainer used learning_rate 0.0006, layer_decay 0.9" in page.full_text
    assert "20% of the training split held out (not the eval split)" in page.full_text

    (tmp_path / "card").mkdir()
    card = model_card.write_model_card(data, str(tmp_path / "card"), signatures={})
    markdown = pathlib.Path(card["md"]).read_text()
    assert "3 trials of random search" in markdown
    assert "epochs 3, batch_size 16" in markdown
    assert json.loads(pathlib.Path(card["json"]).read_text())[
        "what_happened"]["tuning"]["values"]["learning_rate"] == 6e-4
    # Without --tune: no section, no image.
    plain = render(tmp_path / "plain", full_run())
    assert "tuning" not in plain.tables and "tuning_trials.png" not in plain.images


# A whole --quick --tune run: tests/test_tune_predict_e2e.py.
