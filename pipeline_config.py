"""Typed configuration of an electra-tfx run, with the defaults `make run` uses.

Every field can be set from the command line with `--set section.field=value`
(or `--set field=value` for top-level fields). The dedicated flags of `electra-tfx run` are
declared here, on their fields (`_field(..., flag="--epochs", help=...)`, HfArgumentParser's
idea): pipeline/cli.py generates the flags, their help and their one shown default from this
metadata, so a flag and its field cannot drift apart.

The life of a config: the CLI builds and `validate`s it (no TensorFlow yet); the runner calls
`resolve` once, when the checkpoint is known, to fill the defaults that depend on the task and
the checkpoint; components get it through trainer/run_context.py, rebuilt by `from_dict`,
which refuses a missing field (a component given a cut-down view gets a `ConfigView` whose
absent fields raise on access, never a silent default).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import typing
from typing import Any, Dict, List, Optional

PACKAGE_ROOT = os.path.dirname(os.path.abspath(__file__))
# The embedded default data set: real sentiment sentences (CC BY 4.0, see data/README.md).
DEFAULT_DATA = os.path.join(PACKAGE_ROOT, "data", "sentiment_sentences")
DEFAULT_DATA_SCHEMA = os.path.join(PACKAGE_ROOT, "schemas", "sentiment_sentences", "schema.pbtxt")
DEFAULT_HUB_CHECKPOINT = "google/electra-small-discriminator"
# --quick: a smoke run on one's own data, in about a minute on two cores. These settings are
# applied first; flags and --set override them. Its output goes to OUTPUT/quick/.
QUICK_SETTINGS = {
    "data.sample_rows": "400",      # 400 rows of --train (200 of --eval), a seeded sample
    "pretrain.steps": "0",          # no pre-training, even from scratch
    "train.epochs": "2",
    "train.steps_per_epoch": "10",  # at most 20 training steps
    "eval.baseline_epochs": "3",    # the simple baseline, kept but short
}
QUICK_FOLDER = "quick"
# The fewest rows data.sample_rows may ask for: a split that small says nothing.
MIN_SAMPLE_ROWS = 20
# ELECTRA's fine-tuning defaults (google-research/electra `configure_finetuning.py`): the
# peak learning rate by model size (Small 3e-4, Base 1e-4, Large 5e-5), layer-wise decay 0.8.
PRETRAINED_LAYER_DECAY = 0.8


def _field(default: Any = dataclasses.MISSING, *, help: str, flag: Optional[str] = None,
           default_factory: Any = dataclasses.MISSING, **cli: Any) -> Any:
    """A config field with its help text and, for the dedicated flags, how the CLI exposes it.

    `flag`: the option of `electra-tfx run`/`compile` (`--epochs`); `cli` holds what argparse
    needs beyond the field's type: `default_help` (the one default shown, when the value
    alone does not say it: None-means-something fields), `metavar`, `choices`, `action`
    ("store_true", "boolean_optional", "append"), `invert` (the flag sets the field to False:
    `--no-cache`), `commands` (the subcommands that have the flag; default run and compile).
    """
    metadata = {"help": help, **({"flag": flag} if flag else {}), **cli}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def pretrained_learning_rate(hidden_size: Optional[int]) -> float:
    """ELECTRA's fine-tuning rate for an encoder of this width (Small 256, Base 768, Large 1024)."""
    if hidden_size is None or hidden_size < 768:
        return 3e-4
    if hidden_size < 1024:
        return 1e-4
    return 5e-5


@dataclasses.dataclass
class DataConfig:
    train: str = _field(
        DEFAULT_DATA, flag="--train", metavar="PATH",
        default_help="the embedded sentiment sentences",
        help="training data: a file, glob or folder of CSV (with header), JSON Lines or "
        "TFRecord of tf.Example, or tfds:NAME[/CONFIG][:SPLIT]")
    eval: Optional[str] = _field(
        None, flag="--eval", metavar="PATH",
        default_help="none: a deterministic hash split holds out "
        "data.eval_percent (20%) of --train", help="evaluation data (same formats)")
    text_column: str = _field("text", flag="--text-column", metavar="NAME",
                              help="the column holding the text")
    label_column: str = _field("label", flag="--label-column", metavar="NAME",
                               help="the label column: strings or integers")
    text_pair_column: str = _field("text_pair", flag="--text-pair-column", metavar="NAME",
                                   help="text-pair-classification: the column with the second text")
    label_separator: str = _field(
        ",", flag="--label-separator", metavar="SEP",
        help="text-classification --multi-label: the separator of the labels inside one cell")
    labels: Optional[List[str]] = _field(
        None, flag="--labels", metavar="A,B,...",
        default_help="the training data's labels; a label in a tiny share of rows is then "
        "reported as suspect",
        help="the allowed labels (token-classification: tags), comma-separated or a JSON list: "
        "a row with another label is a bad row (--on-bad-rows decides), and class ids follow "
        "their natural order (trainer/label_order.py)")
    # token-classification (JSON Lines/CoNLL): words and their tags.
    tokens_column: str = "tokens"
    tags_column: str = "tags"
    # question-answering (SQuAD-style records).
    id_column: str = "id"
    question_column: str = "question"
    context_column: str = "context"
    answers_column: str = "answers"
    # Held out for evaluation by a deterministic hash split when `eval` is not given.
    eval_percent: int = 20
    # Train on a random sample (seeded by train.seed) of this many rows of --train, and half as
    # many of --eval, drawn before anything else reads the data (pipeline/sample.py); None:
    # every row. --quick sets it.
    sample_rows: Optional[int] = None
    schema: Optional[str] = _field(
        None, flag="--schema", metavar="PATH",
        default_help="inferred (SchemaGen); the embedded data's curated "
        "one without --train", help="a curated schema.pbtxt (read by FreeTextSchema)")
    tfds_data_dir: Optional[str] = _field(
        None, flag="--tfds-data-dir", metavar="DIR", default_help="TFDS' own",
        help="TensorFlow Datasets' data directory, for --train/--eval tfds:NAME[/CONFIG][:SPLIT]")
    # Bad rows (components/bad_rows.py).
    on_bad_rows: str = _field(
        "fail", flag="--on-bad-rows", choices=("fail", "quarantine"),
        help="a bad row (malformed, no text, unknown label, ...) stops the run (fail), or goes "
        "to OUTPUT/quarantine/ while the run trains on the rest (quarantine)")
    max_bad_rows_fraction: float = _field(
        0.05, flag="--max-bad-rows-fraction", metavar="FRACTION",
        help="with --on-bad-rows quarantine, the run still fails when more than this share of "
        "a split's rows is bad")
    # Compare this run's data with the previous run's (drift) when the curated schema sets
    # drift_comparator thresholds; false accepts an intended change (this run becomes the
    # baseline of the next).
    check_drift: bool = True
    # Compare the train split with the eval split (skew) when the curated schema sets
    # skew_comparator thresholds; false accepts an eval split meant to differ.
    check_skew: bool = True


@dataclasses.dataclass
class ModelConfig:
    checkpoint: str = _field(
        DEFAULT_HUB_CHECKPOINT, flag="--checkpoint", metavar="ID|DIR",
        help="hub id, local HuggingFace-format directory, 'auto' (the default hub checkpoint, "
        "else the packaged pre-trained encoder: MiniLM weights in ELECTRA's architecture, else "
        "a small ELECTRA from scratch), 'packaged' or 'scratch'")
    max_seq_length: Optional[int] = _field(
        None, flag="--max-seq-length", metavar="N",
        default_help="the task's: 384 for question-answering, "
        "else 128", help="WordPiece tokens per input, longer inputs are truncated or windowed")
    # Used only by the scratch fallback of --checkpoint auto.
    scratch_vocab_size: int = 8000
    scratch_hidden_size: int = 128
    scratch_num_layers: int = 2
    scratch_num_heads: int = 2
    scratch_intermediate_size: int = 512
    scratch_learning_rate: float = 1e-3
    hub_timeout_seconds: float = 10.0


@dataclasses.dataclass
class TaskConfig:
    """Options of particular tasks (see README, "Tasks")."""
    multi_label: bool = _field(
        False, flag="--multi-label", action="store_true",
        help="text-classification: several labels per text, separated by --label-separator "
        "(sigmoid head, threshold 0.5)")
    regression: bool = _field(
        False, flag="--regression", action="store_true",
        help="text-classification: a float label (e.g. a similarity score), MSE loss")
    doc_stride: int = _field(128, flag="--doc-stride", metavar="N",
                             help="question-answering: stride of the windows over long contexts")
    # question-answering: n-best spans, answer length cap, and the margin by which "no answer"
    # must win for SQuAD 2.0-style data.
    n_best_size: int = 20
    max_answer_length: int = 30
    null_score_threshold: float = 0.0


@dataclasses.dataclass
class TrainConfig:
    epochs: int = _field(3, flag="--epochs", metavar="N", help="fine-tuning epochs")
    batch_size: int = _field(32, flag="--batch-size", metavar="N",
                             help="fine-tuning batch size (global, over all replicas)")
    # None: resolved with the checkpoint (`resolve`): random weights need a much larger rate.
    learning_rate: Optional[float] = _field(
        None, flag="--learning-rate", metavar="RATE",
        default_help="ELECTRA's by model size: 3e-4 Small, "
        "1e-4 Base, 5e-5 Large; model.scratch_learning_rate (1e-3) from scratch",
        help="peak learning rate")
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    # ELECTRA's layer-wise learning-rate decay: the head learns at lr, encoder layer l of L
    # at lr * decay**(L + 1 - l), the embeddings at lr * decay**(L + 2).
    # None: PRETRAINED_LAYER_DECAY, or 1.0 for a scratch checkpoint (nothing to preserve).
    layer_decay: Optional[float] = None
    clip_norm: float = 1.0
    # Sequence lengths at which batches are cut. pad_to_bucket: each batch pads to its
    # bucket's upper length (these, then model.max_seq_length): a few fixed shapes (bounded
    # kernel builds and XLA compiles); false: each batch pads to its longest. Each width is
    # at most 1.5x the one below, so padding is at most a third of a batch above 16 tokens:
    # less compute, and a lower memory peak than 16/32/64, whose 64-wide batches of 33-token
    # texts set the peak (docs/benchmarks.md, "Levers").
    bucket_boundaries: List[int] = dataclasses.field(
        default_factory=lambda: [16, 24, 32, 48, 64, 96])
    pad_to_bucket: bool = True
    use_xla: bool = False
    # Training at scale (trainer/distribution.py): one-device | mirrored | multi-worker | tpu,
    # auto | none | mixed_float16 | mixed_bfloat16 (auto: bfloat16 where the hardware computes
    # it natively, see trainer/distribution.py); batch_size is the global batch over replicas.
    strategy: str = "one-device"
    mixed_precision: str = "auto"
    # train.strategy=tpu: the TPU's name or grpc:// address ("": the one the environment names).
    tpu: str = ""
    gpu_memory_growth: bool = True
    seed: int = 42
    # Caps the number of steps per epoch (None: the whole training split); for smoke runs.
    steps_per_epoch: Optional[int] = None
    eval_batch_size: int = 64
    # Training is checkpointed every this many steps and at each epoch end, under
    # OUTPUT/checkpoints/train-*/, so that a killed run resumes there (trainer/resume.py).
    checkpoint_every_steps: int = 200


@dataclasses.dataclass
class PretrainConfig:
    """ELECTRA pre-training (replaced-token detection) before fine-tuning; see README,
    "Pre-training". Defaults follow google-research/electra except the budget."""
    steps: Optional[int] = _field(
        None, flag="--pretrain-steps", metavar="N",
        default_help="pretrain.scratch_steps (100) for a "
        "checkpoint built from scratch ('scratch', or 'auto' without the hub), else 0",
        help="ELECTRA pre-training (replaced-token detection) steps before fine-tuning")
    # The default budget of a from-scratch checkpoint: under a minute on 2 CPU cores for the
    # default small model and the embedded data (100 packed steps: ~390k tokens, ~9 passes
    # over its 2.4k training sentences; longer runs on that little text memorise it and
    # fine-tune worse, docs/benchmarks.md "Pre-training").
    scratch_steps: int = 100
    corpus: Optional[str] = _field(
        None, flag="--pretrain-corpus", metavar="PATH", default_help="none",
        help="unlabelled text to pre-train on besides the training text: a file, folder or "
        "glob of .txt (one text a line), JSON Lines or CSV (field/column "
        "pretrain.corpus_text_column), .gz allowed")
    corpus_text_column: str = "text"
    # Also pre-train on the text columns of the training split.
    use_training_text: bool = True
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    # Share of the (non-special) tokens the generator must fill in; of those, this share is
    # shown as [MASK] and the rest keep their original token (ELECTRA: 0.15 and 0.85).
    mask_rate: float = 0.15
    mask_token_rate: float = 0.85
    # The generator's hidden size and depth as fractions of the discriminator's (ELECTRA:
    # 1/4 to 1/3 of the width, the same depth); its heads are hidden // 64 (at least 1).
    generator_hidden_fraction: float = 0.25
    generator_layers_fraction: float = 1.0
    # loss = generator MLM loss + disc_weight * discriminator loss (ELECTRA: 50).
    disc_weight: float = 50.0
    # Sampling temperature of the generator's replacements.
    temperature: float = 1.0
    # Texts longer than this (in WordPiece tokens, with [CLS] and [SEP]) are cut into pieces.
    max_seq_length: int = 128
    # Pack consecutive texts into sequences of up to max_seq_length ([CLS] a [SEP] b [SEP]
    # ...), as BERT/ELECTRA pre-training does; false: one text per sequence.
    pack_texts: bool = True
    bucket_boundaries: List[int] = dataclasses.field(default_factory=lambda: [16, 32, 64])
    # A resumable checkpoint (generator, discriminator, optimizer) every this many steps.
    checkpoint_every: int = 100
    # Steps per TensorBoard point; the summary's final metrics cover the last window.
    log_every: int = 20
    seed: int = 42


@dataclasses.dataclass
class EvalConfig:
    """The blessing rules (components/blessing_gate.py; README, "When a model is blessed")."""
    # Absolute bar on the task's headline metric; None: what a trivial predictor scores on the
    # eval split (its majority-class rate for accuracy; trainer/gate_bars.py per task).
    min_accuracy: Optional[float] = None
    # A candidate may not lose more than this much accuracy against the last blessed model.
    max_accuracy_drop: float = 0.01
    # The simple baseline trained in the same run (README, "Baselines, slices and calibration");
    # False skips it (its Trainer and Evaluator) and waives beating it.
    simple_baseline: bool = True
    # None means true.
    require_beat_baseline: Optional[bool] = _field(
        None, flag="--require-beat-baseline", action="boolean_optional",
        default_help="on, for every task that has a baseline and every checkpoint",
        help="push only a candidate that beats the simple baseline trained in the same run by "
        "eval.baseline_margin; --no-require-beat-baseline waives it, and the summary, report "
        "and model card then say by how much the pushed model is worse")
    # The candidate's headline metric must beat the simple baseline's by at least this much.
    baseline_margin: float = 0.0
    baseline_epochs: int = 10
    baseline_learning_rate: float = 0.05
    # The chance-level rules (AUC above 0.5, Pearson above 0) must hold with this one-sided
    # confidence on the eval split's size: a ranking by chance passes them 1 - this of the time.
    chance_confidence: float = 0.95
    slice_columns: List[str] = _field(
        flag="--slice-column", action="append", metavar="COLUMN", default_factory=list,
        default_help="overall, by label and by text length only",
        help="also report the evaluation metrics per value of this raw column (repeatable)")


# The search algorithms of --tune (KerasTuner's oracles): tune.algorithm names one.
TUNE_ALGORITHMS = ("random", "bayesian", "hyperband")


@dataclasses.dataclass
class TuneConfig:
    """Hyper-parameter search before the Trainer (TFX's Tuner with KerasTuner's oracles;
    trainer/tuning.py, docs/tuning.md). The Trainer trains with the best trial's values.
    Given to the Tuner alone (NOT_IN_COMPONENT_CONFIG): a change here re-runs the search, and
    re-trains only when the best values change."""
    enabled: bool = _field(
        False, flag="--tune", action="store_true",
        help="search the learning rate, layer-wise decay, warm-up, epochs and batch size "
        "(the tune.* ranges) with short trials scored on a split held out from the training "
        "data (never the eval split), then train with the best values")
    trials: int = _field(4, flag="--tune-trials", metavar="N",
                         help="the number of trials of --tune")
    # random | bayesian | hyperband (KerasTuner's RandomSearch, BayesianOptimization,
    # Hyperband oracles); hyperband spends tune.steps_per_trial on its longest trials.
    algorithm: str = "random"
    # The training steps of one trial (its epochs share them; fewer when the tuning data runs
    # out sooner).
    steps_per_trial: int = 60
    # The share of the training split held out (by a hash of each transformed example) to
    # score the trials; the trials train on the rest.
    holdout_percent: int = 20
    # The ranges searched: [low, high] (the learning rate log-uniformly; low == high fixes
    # it), and the values tried for epochs and batch size.
    # (Named apart from train's fields, so that a bare `--set epochs=...` stays train's.)
    learning_rate_range: List[float] = dataclasses.field(default_factory=lambda: [3e-5, 1e-3])
    layer_decay_range: List[float] = dataclasses.field(default_factory=lambda: [0.6, 1.0])
    warmup_ratio_range: List[float] = dataclasses.field(default_factory=lambda: [0.0, 0.2])
    epochs_values: List[int] = dataclasses.field(default_factory=lambda: [1, 2, 3])
    batch_size_values: List[int] = dataclasses.field(default_factory=lambda: [16, 32])


@dataclasses.dataclass
class MetadataConfig:
    """ML Metadata of `run` (pipeline/metadata_config.py); both None: SQLite in the output dir."""
    mysql: Optional[str] = _field(
        None, flag="--metadata-mysql", metavar="HOST[:PORT]/DB", commands=("run",),
        default_help="SQLite in the output directory",
        help="record ML Metadata in this MySQL database (user and password from "
        "ELECTRA_TFX_MYSQL_USER, ELECTRA_TFX_MYSQL_PASSWORD)")
    config_file: Optional[str] = _field(
        None, flag="--metadata-config", metavar="FILE.pbtxt", commands=("run",),
        default_help="SQLite in the output directory",
        help="ML Metadata connection as a ml_metadata ConnectionConfig text proto")


REGISTRIES = ("none", "mlflow", "vertex")


@dataclasses.dataclass
class RegistryConfig:
    """Where every blessed push is also registered (components/model_registry.py,
    docs/registry.md). Not part of what a run computes: components' configs leave it out
    (NOT_IN_COMPONENT_CONFIG), so changing it never re-trains a cached model."""
    kind: str = _field(
        "none", flag="--registry", metavar="none|mlflow|vertex", choices=REGISTRIES,
        help="also register every blessed push as a new version of one registered model: "
        "mlflow (alias champion moved to it) or vertex (Vertex AI Model Registry, compile only)")
    uri: Optional[str] = _field(
        None, flag="--registry-uri", metavar="URI",
        default_help="sqlite:///OUTPUT/mlflow.db",
        help="the MLflow tracking URI, e.g. http://host:5000 (a compiled pipeline needs one "
        "its cluster can reach)")
    model: Optional[str] = _field(
        None, flag="--registry-model", metavar="NAME", default_help="the pipeline name",
        help="the registered model's name (MLflow), or its display name (Vertex)")
    vertex_project: Optional[str] = _field(
        None, flag="--vertex-project", metavar="PROJECT", commands=("compile",),
        default_help="none", help="the Google Cloud project of --registry vertex")
    vertex_region: Optional[str] = _field(
        None, flag="--vertex-region", metavar="REGION", commands=("compile",),
        default_help="none", help="the region of --registry vertex, e.g. europe-west4")
    vertex_model_id: Optional[str] = _field(
        None, flag="--vertex-model-id", metavar="ID", commands=("compile",),
        default_help="the registered model's name, as a Vertex model id",
        help="the Vertex AI model every push becomes a version of")
    serving_image: Optional[str] = _field(
        None, flag="--serving-image", metavar="IMAGE", commands=("compile",),
        default_help="none", help="the serving container of --registry vertex, e.g. "
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest")


@dataclasses.dataclass
class PredictConfig:
    """Batch inference after a blessed push (TFX's BulkInferrer; docs/predict.md). Not part of
    what the model computes: components' configs leave it out (NOT_IN_COMPONENT_CONFIG), so a
    new --predict path never re-trains a cached model."""
    data: Optional[str] = _field(
        None, flag="--predict", metavar="PATH", default_help="none",
        help="also score these rows (a file, glob or folder, as --train) with the candidate once "
        "it is blessed: BulkInferrer's PredictionLogs and a JSON Lines copy in OUTPUT/predictions/")


# Sections that say where results go, not what is computed: left out of the config a
# component receives (RunContext), so they key no cache; `from_dict` fills their defaults.
# `tune` is how the search runs: the Tuner alone receives it (pipeline/pipeline.py).
NOT_IN_COMPONENT_CONFIG = ("registry", "tune", "predict")


@dataclasses.dataclass
class PipelineConfig:
    pipeline_name: str = _field(
        "electra-tfx", flag="--pipeline-name", metavar="NAME",
        help="the pipeline's name in ML Metadata, and the default output folder's")
    model_name: str = "electra_classifier"
    task: str = _field("text-classification", flag="--task", metavar="NAME",
                       help="the task to train",
                       listed_by="trainer.tasks.task_names")
    output: Optional[str] = _field(None, flag="--output", metavar="DIR",
                                   default_help="runs/<pipeline name>", help="output directory")
    quick: bool = _field(
        False, flag="--quick", action="store_true", commands=("run",),
        help="a smoke run to try the tool on your data: a sample of rows, a few training "
        "steps, no pre-training, a small simple baseline (QUICK_SETTINGS in pipeline_config.py; "
        "flags and --set still override them); writes to OUTPUT/quick/, never beside real runs")
    enable_cache: bool = _field(True, flag="--no-cache", action="store_true", invert=True,
                                default_help="cached components are reused",
                                help="re-run every component")
    beam_args: List[str] = dataclasses.field(
        default_factory=lambda: ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    task_options: TaskConfig = dataclasses.field(default_factory=TaskConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    metadata: MetadataConfig = dataclasses.field(default_factory=MetadataConfig)
    pretrain: PretrainConfig = dataclasses.field(default_factory=PretrainConfig)
    registry: RegistryConfig = dataclasses.field(default_factory=RegistryConfig)
    tune: TuneConfig = dataclasses.field(default_factory=TuneConfig)
    predict: PredictConfig = dataclasses.field(default_factory=PredictConfig)

    @property
    def output_dir(self) -> str:
        if self.output and "://" in self.output:
            base = self.output.rstrip("/")  # a URI (gs://...; a compiled pipeline's root): as is
        else:
            base = os.path.abspath(self.output or os.path.join("runs", self.pipeline_name))
        # A quick run has its own metadata, serving folder and reports: its models are never
        # the "last blessed model" of a real run, nor served from the real run's folder.
        return f"{base}/{QUICK_FOLDER}" if self.quick else base

    @property
    def run_pipeline_name(self) -> str:
        """The pipeline's name in ML Metadata: quick runs are a pipeline of their own, also
        when the metadata store is shared (--metadata-mysql)."""
        return f"{self.pipeline_name}-{QUICK_FOLDER}" if self.quick else self.pipeline_name

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.output_dir, "serving", self.model_name)

    def to_dict(self) -> Dict[str, Any]:
        """Every field, as JSON-ready values (a component's cut-down copy: what it has)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _Absent):
                continue
            if isinstance(value, ConfigView):
                out[f.name] = value.to_dict()
            elif dataclasses.is_dataclass(value):
                out[f.name] = dataclasses.asdict(value)
            else:
                out[f.name] = json.loads(json.dumps(value))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


# ---- resolution: the defaults that depend on the task and the checkpoint ------------------

# `resolve(config, ON_CLUSTER, task)`: a compiled pipeline does not know its checkpoint's size
# at compile time. What any non-scratch checkpoint gets is filled in; the learning rate is left
# unset, and the Trainer's run_fn resolves it once, where the checkpoint is
# (RunContext.resolve_in_trainer says so). Compiled pipelines refuse scratch checkpoints.
ON_CLUSTER = "on-cluster"
# The fields `resolve` fills when they are None, and what they depend on.
RESOLVED_FIELDS = ("model.max_seq_length", "train.learning_rate", "train.layer_decay",
                   "pretrain.steps")
DEFAULT_MAX_SEQ_LENGTH = 128


@dataclasses.dataclass(frozen=True)
class CheckpointFacts:
    """What `resolve` needs to know of a checkpoint (trainer/checkpoint.py reads it)."""
    # "local" | "hub" | "packaged" | "scratch" (ResolvedCheckpoint.source); only "scratch"
    # changes the defaults (random weights: a larger rate, no layer decay, pre-training).
    source: str
    # The encoder's width (config.json hidden_size): ELECTRA's rate by model size.
    hidden_size: Optional[int] = None


def resolve(config: "PipelineConfig", checkpoint: Any, traits: Any) -> "PipelineConfig":
    """A copy of `config` whose unset task- and checkpoint-dependent fields are filled in:
    the sequence length (the task's default), the learning rate (by the checkpoint's size,
    or model.scratch_learning_rate from scratch), the layer decay (PRETRAINED_LAYER_DECAY, 1.0
    from scratch) and the pre-training steps (pretrain.scratch_steps from scratch, else 0).
    A value set by the user is never changed.

    `checkpoint`: a CheckpointFacts (or anything with `source` and `hidden_size`), or
    ON_CLUSTER: the learning rate is then left unset for the Trainer to resolve. `traits`: the
    task's (trainer.tasks.traits(config.task), or anything with `default_max_seq_length`).

    Called once per run: by the runner (pipeline/runner.py) or the compiler, and for a
    compiled pipeline once more by the Trainer, for what was left to it."""
    resolved = from_dict(config.to_dict())
    if resolved.model.max_seq_length is None:
        resolved.model.max_seq_length = int(traits.default_max_seq_length)
    on_cluster = checkpoint == ON_CLUSTER
    scratch = not on_cluster and getattr(checkpoint, "source", None) == "scratch"
    if resolved.train.learning_rate is None and not on_cluster:
        resolved.train.learning_rate = (resolved.model.scratch_learning_rate if scratch else
                                        pretrained_learning_rate(
                                            getattr(checkpoint, "hidden_size", None)))
    if resolved.train.layer_decay is None:
        resolved.train.layer_decay = 1.0 if scratch else PRETRAINED_LAYER_DECAY
    if resolved.pretrain.steps is None:
        resolved.pretrain.steps = resolved.pretrain.scratch_steps if scratch else 0
    return resolved


def unresolved(config: "PipelineConfig") -> List[str]:
    """The fields `resolve` fills that are still unset."""
    return [name for name in RESOLVED_FIELDS if _get(config, name) is None]


class ConfigError(ValueError):
    """A configuration value that cannot be used, with the field it belongs to."""


# Training at scale (trainer/distribution.py reads these; checked here, before TensorFlow loads).
STRATEGIES = ("one-device", "mirrored", "multi-worker", "tpu")
MIXED_PRECISION = ("auto", "none", "mixed_float16", "mixed_bfloat16")


def apply_quick(config: "PipelineConfig") -> None:
    """--quick's settings (QUICK_SETTINGS), before the flags and --set that may override them."""
    config.quick = True
    for key, value in QUICK_SETTINGS.items():
        set_field(config, key, value)


def quick_note(config: "PipelineConfig") -> Optional[str]:
    """What the summary, the report and the model card say of a quick run; None otherwise."""
    if not config.quick:
        return None
    sample = (f"a sample of {config.data.sample_rows} rows" if config.data.sample_rows
              else "every row")
    return (f"QUICK RUN (--quick): {sample}, a few training steps, no pre-training, no drift or "
            "skew check: a smoke "
            "test of the data and the settings, not a model to serve. Kept apart from real "
            f"runs, in {config.output_dir}.")


def validate(config: "PipelineConfig", traits: Any) -> None:
    """Refuses settings that cannot give a meaningful run, before anything runs.

    One ConfigError naming the flag or field, the value and what is allowed. Checked: every
    count (epochs, steps, batch sizes, lengths) is positive, rates are in their ranges, the
    sequence length holds at least the task's shortest input (`traits`: the task's,
    trainer.tasks.traits(config.task): min_seq_length, strided_windows,
    chance_bar_needs_baseline), the strategy and precision are known."""
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    t, e, m, p, d = config.train, config.eval, config.model, config.pretrain, config.data
    need(d.sample_rows is None or d.sample_rows >= MIN_SAMPLE_ROWS,
         f"data.sample_rows must be at least {MIN_SAMPLE_ROWS} (or none: every row), "
         f"got {d.sample_rows}")
    need(t.epochs >= 1, f"--epochs must be at least 1, got {t.epochs} (a model that does not "
         "train is never worth evaluating)")
    need(t.batch_size >= 1, f"--batch-size must be at least 1, got {t.batch_size}")
    need(t.eval_batch_size >= 1, f"train.eval_batch_size must be at least 1, got {t.eval_batch_size}")
    need(t.steps_per_epoch is None or t.steps_per_epoch >= 1,
         f"train.steps_per_epoch must be at least 1 (or none: the whole split), got {t.steps_per_epoch}")
    need(t.learning_rate is None or t.learning_rate > 0,
         f"--learning-rate must be above 0, got {t.learning_rate}")
    need(0 <= t.warmup_ratio < 1, f"train.warmup_ratio must be from 0 to below 1, got {t.warmup_ratio}")
    need(t.layer_decay is None or 0 < t.layer_decay <= 1,
         f"train.layer_decay must be above 0 and at most 1, got {t.layer_decay}")
    need(t.weight_decay >= 0, f"train.weight_decay must be at least 0, got {t.weight_decay}")
    need(t.clip_norm > 0, f"train.clip_norm must be above 0, got {t.clip_norm}")
    need(t.checkpoint_every_steps >= 1,
         f"train.checkpoint_every_steps must be at least 1, got {t.checkpoint_every_steps}")
    need(all(b >= 1 for b in t.bucket_boundaries)
         and list(t.bucket_boundaries) == sorted(set(t.bucket_boundaries)),
         f"train.bucket_boundaries must be increasing positive lengths, got {t.bucket_boundaries}")
    need(t.strategy in STRATEGIES,
         f"train.strategy={t.strategy}: expected one of {', '.join(STRATEGIES)}")
    need(t.mixed_precision in MIXED_PRECISION,
         f"train.mixed_precision={t.mixed_precision}: expected one of {', '.join(MIXED_PRECISION)}")
    shortest = traits.min_seq_length
    need(m.max_seq_length is None or m.max_seq_length >= shortest,
         f"--max-seq-length must be at least {shortest} for {config.task} (room for the special "
         f"tokens and one word piece of each text), got {m.max_seq_length}")
    need(m.max_seq_length is None or m.max_seq_length <= 512,
         f"--max-seq-length must be at most 512 (ELECTRA's position embeddings), got {m.max_seq_length}")
    for name in ("scratch_vocab_size", "scratch_hidden_size", "scratch_num_layers",
                 "scratch_num_heads", "scratch_intermediate_size"):
        need(getattr(m, name) >= 1, f"model.{name} must be at least 1, got {getattr(m, name)}")
    need(m.scratch_hidden_size % m.scratch_num_heads == 0,
         f"model.scratch_hidden_size ({m.scratch_hidden_size}) must be a multiple of "
         f"model.scratch_num_heads ({m.scratch_num_heads})")
    need(m.scratch_learning_rate > 0,
         f"model.scratch_learning_rate must be above 0, got {m.scratch_learning_rate}")
    need(p.steps is None or p.steps >= 0, f"--pretrain-steps must be at least 0, got {p.steps}")
    need(p.batch_size >= 1, f"pretrain.batch_size must be at least 1, got {p.batch_size}")
    need(p.learning_rate > 0, f"pretrain.learning_rate must be above 0, got {p.learning_rate}")
    need(p.max_seq_length >= 3, f"pretrain.max_seq_length must be at least 3, got {p.max_seq_length}")
    need(0 < p.mask_rate < 1, f"pretrain.mask_rate must be above 0 and below 1, got {p.mask_rate}")
    need(0 <= p.mask_token_rate <= 1,
         f"pretrain.mask_token_rate must be from 0 to 1, got {p.mask_token_rate}")
    need(p.temperature > 0, f"pretrain.temperature must be above 0, got {p.temperature}")
    need(p.checkpoint_every >= 1 and p.log_every >= 1,
         "pretrain.checkpoint_every and pretrain.log_every must be at least 1, got "
         f"{p.checkpoint_every} and {p.log_every}")
    need(1 <= d.eval_percent <= 99, f"data.eval_percent must be from 1 to 99, got {d.eval_percent}")
    need(e.min_accuracy is None or e.min_accuracy >= 0,
         f"eval.min_accuracy must be at least 0, got {e.min_accuracy}")
    need(e.max_accuracy_drop >= 0, f"eval.max_accuracy_drop must be at least 0, got {e.max_accuracy_drop}")
    need(e.baseline_margin >= 0, f"eval.baseline_margin must be at least 0, got {e.baseline_margin}")
    need(e.baseline_epochs >= 1, f"eval.baseline_epochs must be at least 1, got {e.baseline_epochs}")
    need(e.baseline_learning_rate > 0,
         f"eval.baseline_learning_rate must be above 0, got {e.baseline_learning_rate}")
    need(0 < e.chance_confidence < 1,
         f"eval.chance_confidence must be between 0 and 1, got {e.chance_confidence}")
    need(not (e.require_beat_baseline and not e.simple_baseline),
         "--require-beat-baseline needs the simple baseline (eval.simple_baseline=true)")
    need(e.simple_baseline or not getattr(traits, "chance_bar_needs_baseline", False),
         f"eval.simple_baseline=false: the {config.task} task's chance-level rule compares the "
         "candidate with its simple baseline, which must run")
    opts = config.task_options
    need(opts.doc_stride >= 1, f"--doc-stride must be at least 1, got {opts.doc_stride}")
    need(m.max_seq_length is None or not traits.strided_windows
         or opts.doc_stride < m.max_seq_length,
         f"--doc-stride ({opts.doc_stride}) must be below --max-seq-length ({m.max_seq_length})")
    need(not (opts.multi_label and opts.regression), "--multi-label and --regression cannot be combined")
    # Once `resolve` has decided whether pre-training runs (before it, steps None means "by
    # checkpoint").
    need(p.steps is None or p.steps or not p.corpus,
         "--pretrain-corpus is given but no pre-training will run: pre-training is on by "
         "default only for --checkpoint scratch; pass --pretrain-steps N to pre-train "
         f"{m.checkpoint} on it")
    need(not p.steps or p.use_training_text or p.corpus,
         "pretrain.use_training_text=false leaves nothing to pre-train on: give "
         "--pretrain-corpus PATH")
    validate_tune(config.tune)
    need(not config.tune.enabled or getattr(traits, "tunable", True),
         f"--tune: the task {config.task} trains nothing, so there is nothing to tune")
    r = config.registry
    need(r.kind in REGISTRIES, f"--registry {r.kind}: expected one of {', '.join(REGISTRIES)}")
    vertex = ("--vertex-project", r.vertex_project), ("--vertex-region", r.vertex_region), \
        ("--serving-image", r.serving_image)
    need(r.kind != "vertex" or all(value for _, value in vertex),
         "--registry vertex needs " + ", ".join(flag for flag, value in vertex if not value)
         + " (e.g. --vertex-project my-project --vertex-region europe-west4 --serving-image "
         "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest)")


def validate_tune(tune: "TuneConfig") -> None:
    """The tune section's checks (validate calls it; also with --tune off, so that a mistake
    is found before a run that turns it on)."""
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(tune.trials >= 1, f"--tune-trials must be at least 1, got {tune.trials}")
    need(tune.algorithm in TUNE_ALGORITHMS,
         f"tune.algorithm={tune.algorithm}: expected one of {', '.join(TUNE_ALGORITHMS)}")
    need(tune.steps_per_trial >= 1,
         f"tune.steps_per_trial must be at least 1, got {tune.steps_per_trial}")
    need(1 <= tune.holdout_percent <= 50,
         f"tune.holdout_percent must be from 1 to 50, got {tune.holdout_percent}")
    for name in ("learning_rate_range", "layer_decay_range", "warmup_ratio_range"):
        values = getattr(tune, name)
        need(len(values) == 2 and values[0] <= values[1],
             f"tune.{name} must be a range [low, high] with low <= high, got {values}")
    need(tune.learning_rate_range[0] > 0,
         f"tune.learning_rate_range must be above 0, got {tune.learning_rate_range}")
    need(0 < tune.layer_decay_range[0] and tune.layer_decay_range[1] <= 1,
         f"tune.layer_decay_range must be above 0 and at most 1, got {tune.layer_decay_range}")
    need(0 <= tune.warmup_ratio_range[0] and tune.warmup_ratio_range[1] < 1,
         f"tune.warmup_ratio_range must be from 0 to below 1, got {tune.warmup_ratio_range}")
    for name in ("epochs_values", "batch_size_values"):
        values = getattr(tune, name)
        need(bool(values) and all(v >= 1 for v in values) and len(set(values)) == len(values),
             f"tune.{name} must list distinct values of at least 1, got {values}")


def _coerce(raw: str, annotation: Any, key: str) -> Any:
    """Parses a command-line string into the type a dataclass field declares."""
    if isinstance(annotation, str):
        annotation = eval(annotation, {**typing.__dict__, **globals()})  # noqa: S307 (our own annotations)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union and type(None) in args:
        if raw.lower() in ("none", "null", ""):
            return None
        (annotation,) = [a for a in args if a is not type(None)]
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
    try:
        if annotation is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if annotation in (int, float, str):
            return annotation(raw)
        if origin in (list, List):
            (item,) = args
            if raw.startswith("["):
                return [item(v) for v in json.loads(raw)]
            return [item(v) for v in raw.split(",") if v != ""]
    except ValueError as e:
        raise ConfigError(f"--set {key}={raw}: expected {annotation.__name__ if hasattr(annotation, '__name__') else annotation}") from e
    raise ConfigError(f"--set {key}: unsupported field type {annotation}")


def set_field(config: Any, key: str, raw: str) -> None:
    """Sets `key` (dotted, e.g. `train.epochs`) from a string, checking the name and type.

    A bare name (`epochs`) is accepted when exactly one section has such a field.
    """
    parts = key.split(".")
    if len(parts) == 1:
        owners = [config] if parts[0] in _field_types(config) else []
        owners += [getattr(config, f.name) for f in dataclasses.fields(config)
                   if dataclasses.is_dataclass(getattr(config, f.name))
                   and parts[0] in _field_types(getattr(config, f.name))]
        if len(owners) > 1:
            candidates = [name for name in all_field_names(config)
                          if name.split(".")[-1] == parts[0]]
            raise ConfigError(f"--set {key}: ambiguous field; one of {', '.join(candidates)}")
        if not owners:
            raise ConfigError(unknown_field_message(config, key))
        target, name = owners[0], parts[0]
    else:
        target = config
        for part in parts[:-1]:
            if part not in _field_types(target) or not dataclasses.is_dataclass(getattr(target, part)):
                raise ConfigError(unknown_field_message(config, key))
            target = getattr(target, part)
        name = parts[-1]
        if name not in _field_types(target):
            raise ConfigError(unknown_field_message(config, key))
    setattr(target, name, _coerce(raw, _field_types(target)[name], key))


def unknown_field_message(config: Any, key: str) -> str:
    """`--set KEY`: unknown field, with the closest field names (difflib), not all of them."""
    names = all_field_names(config)
    section, _, leaf = key.rpartition(".")
    in_section = [name for name in names if name.startswith(section + ".")] if section else []
    if in_section:  # a known section: the closest of its fields
        leaves = {name.rpartition(".")[2]: name for name in in_section}
        close = [leaves[m] for m in difflib.get_close_matches(leaf, list(leaves), n=3, cutoff=0.6)]
    else:
        close = difflib.get_close_matches(key, names, n=3, cutoff=0.75)
        by_leaf: Dict[str, List[str]] = {}
        for name in names:
            by_leaf.setdefault(name.rpartition(".")[2], []).append(name)
        for match in difflib.get_close_matches(leaf, list(by_leaf), n=3, cutoff=0.75):
            close += [name for name in by_leaf[match] if name not in close]
    hint = (f"did you mean {' or '.join(close[:3])}?" if close else
            "the fields are those of pipeline_config.py, e.g. train.epochs, "
            "data.text_column, eval.min_accuracy")
    return f"--set {key}: unknown field; {hint}"


def _get(config: Any, dotted: str) -> Any:
    value = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def flag_fields() -> List[typing.Tuple[str, dataclasses.Field, Any]]:
    """(dotted name, field, type) of every field that has a dedicated command-line flag."""
    found = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], prefix + f.name + ".")
            elif "flag" in f.metadata:
                found.append((prefix + f.name, f, hints[f.name]))
    walk(PipelineConfig, "")
    return found


def _field_types(obj: Any) -> Dict[str, Any]:
    hints = typing.get_type_hints(type(obj))
    return {f.name: hints[f.name] for f in dataclasses.fields(obj)}


def all_field_names(config: Any, prefix: str = "") -> List[str]:
    names = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            names += all_field_names(value, prefix + f.name + ".")
        else:
            names.append(prefix + f.name)
    return names


class ConfigView:
    """The part of a config section a component was given (RunContext decides what each
    component receives, so that e.g. Transform's cache survives a change of epochs). Reading a
    field it was not given is an error naming the component, never the field's default."""

    def __init__(self, section: str, cls: type, values: Dict[str, Any], component: str):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"config section {section!r} has no field {', '.join(unknown)}")
        self.__dict__.update(_section=section, _cls=cls, _values=dict(values),
                             _component=component, _names=names)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "_values" not in self.__dict__:  # copy, pickle
            raise AttributeError(name)
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        if name in self.__dict__["_names"]:
            raise ConfigError(
                f"{self.__dict__['_section']}.{name} is not passed to "
                f"{self.__dict__['_component']} (trainer/run_context.py decides what each "
                "component receives): add it there rather than reading a default")
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self.__dict__['_section']} is a read-only view")

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ConfigView) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"ConfigView({self.__dict__.get('_section')}, {self.__dict__.get('_values')!r})"

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__["_values"])


# The key of a cut-down config dict naming the component it was cut for (RunContext).
VIEW_KEY = "_view_for"


def from_dict(d: Dict[str, Any]) -> PipelineConfig:
    """Rebuilds a config from `to_dict()` output (run_fn, preprocessing_fn, the report).

    A complete dict gives a PipelineConfig; a missing or unknown field is a ConfigError, never
    a default. A dict cut down for one component (VIEW_KEY names it) gives a PipelineConfig
    whose absent sections and fields are ConfigViews that raise when read."""
    d = dict(d)
    component = d.pop(VIEW_KEY, None)
    hints = typing.get_type_hints(PipelineConfig)
    names = [f.name for f in dataclasses.fields(PipelineConfig)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ConfigError(f"config has no field {', '.join(unknown)}")
    missing = [name for name in names if name not in d and name not in NOT_IN_COMPONENT_CONFIG]
    if missing and component is None:
        raise ConfigError(f"config lacks {', '.join(missing)}")
    config = PipelineConfig.__new__(PipelineConfig)
    for name in names:
        cls = hints[name]
        if dataclasses.is_dataclass(cls):
            values = d.get(name, {})
            fields = {f.name for f in dataclasses.fields(cls)}
            if name not in d and name in NOT_IN_COMPONENT_CONFIG:
                value = cls()
            elif set(values) == fields:
                value = cls(**values)
            elif component is None:
                absent = sorted(fields - set(values)) or sorted(set(values) - fields)
                raise ConfigError(f"config section {name!r}: no field {', '.join(absent)} "
                                  "(or one it does not have)")
            else:
                value = ConfigView(name, cls, values, component)
        elif name in d:
            value = d[name]
        else:
            value = _Absent(name, component)
        object.__setattr__(config, name, value)
    return config


class _Absent:
    """A top-level field a component was not given: any use of it is an error."""

    def __init__(self, name: str, component: str):
        self._message = (f"{name} is not passed to {component} (trainer/run_context.py decides "
                         "what each component receives)")

    def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
        raise ConfigError(self._message)

    __bool__ = __iter__ = __len__ = __contains__ = __str__ = __fspath__ = _refuse
    __int__ = __float__ = __index__ = __getitem__ = _refuse

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "_message" not in self.__dict__:  # copy, pickle
            raise AttributeError(name)
        raise ConfigError(self.__dict__["_message"])

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Absent) and other._message == self._message

    def __repr__(self) -> str:
        return "<absent>"
