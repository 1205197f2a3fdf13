"""Typed configuration of an electra-tfx run, with the defaults `make run` uses.

Every field can be set from the command line with `--set section.field=value`
(or `--set field=value` for top-level fields); the dedicated flags of
`electra-tfx run` are shortcuts for the most common ones.
"""
from __future__ import annotations

import dataclasses
import json
import os
import typing
from typing import Any, Dict, List, Optional

PACKAGE_ROOT = os.path.dirname(os.path.abspath(__file__))
# The embedded default data set: real sentiment sentences (CC BY 4.0, see data/README.md).
DEFAULT_DATA = os.path.join(PACKAGE_ROOT, "data", "sentiment_sentences")
DEFAULT_DATA_SCHEMA = os.path.join(PACKAGE_ROOT, "schemas", "sentiment_sentences", "schema.pbtxt")
DEFAULT_HUB_CHECKPOINT = "google/electra-small-discriminator"
# ELECTRA's fine-tuning defaults (google-research/electra `configure_finetuning.py`): the
# peak learning rate by model size (Small 3e-4, Base 1e-4, Large 5e-5), layer-wise decay 0.8.
PRETRAINED_LAYER_DECAY = 0.8


def pretrained_learning_rate(hidden_size: Optional[int]) -> float:
    """ELECTRA's fine-tuning rate for an encoder of this width (Small 256, Base 768, Large 1024)."""
    if hidden_size is None or hidden_size < 768:
        return 3e-4
    if hidden_size < 1024:
        return 1e-4
    return 5e-5


@dataclasses.dataclass
class DataConfig:
    train: str = DEFAULT_DATA
    eval: Optional[str] = None
    text_column: str = "text"
    label_column: str = "label"
    # text-pair-classification: the second text of each pair.
    text_pair_column: str = "text_pair"
    # text-classification --multi-label: labels inside one cell are separated by this.
    label_separator: str = ","
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
    # A curated schema (schema.pbtxt) for ImportSchemaGen; None infers one with SchemaGen.
    schema: Optional[str] = None
    # Where TensorFlow Datasets keeps prepared data, for `--train tfds:NAME` (None: TFDS' default).
    tfds_data_dir: Optional[str] = None
    # Bad rows (components/bad_rows.py): "fail" stops the run listing them; "quarantine" sets
    # them aside in OUTPUT/quarantine/ and trains on the rest, unless their share of a split
    # exceeds max_bad_rows_fraction.
    on_bad_rows: str = "fail"
    max_bad_rows_fraction: float = 0.05
    # Compare this run's data with the previous run's (drift) when the curated schema sets
    # drift_comparator thresholds; false accepts an intended change (this run becomes the
    # baseline of the next).
    check_drift: bool = True


@dataclasses.dataclass
class ModelConfig:
    # A hub id, a local HuggingFace-format directory, or "auto" (hub default, else a
    # small ELECTRA built from scratch on the training text).
    checkpoint: str = DEFAULT_HUB_CHECKPOINT
    # None: 384 for question-answering (SQuAD's setting), 128 for every other task.
    max_seq_length: Optional[int] = None
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
    # text-classification: several labels per text (sigmoid head, threshold 0.5).
    multi_label: bool = False
    # text-classification: a float target (e.g. a similarity score), MSE loss.
    regression: bool = False
    # question-answering: window stride over long contexts, n-best spans, answer length cap,
    # and the margin by which "no answer" must win for SQuAD 2.0-style data.
    doc_stride: int = 128
    n_best_size: int = 20
    max_answer_length: int = 30
    null_score_threshold: float = 0.0


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 32
    # None: ELECTRA's rate for the checkpoint's size (pretrained_learning_rate: 3e-4 below
    # hidden size 768, 1e-4 up to 1024, else 5e-5), or model.scratch_learning_rate when the
    # checkpoint was built from scratch (random weights need a much larger rate).
    learning_rate: Optional[float] = None
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
    # Pre-training steps. None: scratch_steps when the checkpoint was built from scratch
    # (`--checkpoint scratch`, or `auto` without the hub), else 0 (no pre-training).
    steps: Optional[int] = None
    # The default budget of a from-scratch checkpoint: under a minute on 2 CPU cores for the
    # default small model and the embedded data (100 packed steps: ~390k tokens, ~9 passes
    # over its 2.4k training sentences; longer runs on that little text memorise it and
    # fine-tune worse, docs/benchmarks.md "Pre-training").
    scratch_steps: int = 100
    # Extra unlabelled text: a file, folder or glob of plain text (.txt, one text a line),
    # JSON Lines or CSV (the `corpus_text_column` field/column), .gz allowed.
    corpus: Optional[str] = None
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
    # Absolute bar on accuracy; None means "better than the majority-class rate".
    min_accuracy: Optional[float] = None
    # A candidate may not lose more than this much accuracy against the last blessed model.
    max_accuracy_drop: float = 0.01
    # The simple baseline trained in the same run (README, "Baselines, slices and calibration");
    # False skips it (its Trainer and Evaluator), e.g. for quick plumbing runs.
    simple_baseline: bool = True
    # None: required for text(-pair) classification (not --regression), shown only otherwise.
    require_beat_baseline: Optional[bool] = None
    # The candidate's headline metric must beat the simple baseline's by at least this much.
    baseline_margin: float = 0.0
    baseline_epochs: int = 10
    baseline_learning_rate: float = 0.05
    # Raw columns whose values become evaluation slices (beside overall, label, text length).
    slice_columns: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class MetadataConfig:
    """ML Metadata of `run` (pipeline/metadata_config.py); both None: SQLite in the output dir."""
    # HOST[:PORT]/DATABASE of a MySQL server; user and password come from the environment.
    mysql: Optional[str] = None
    # A ml_metadata ConnectionConfig in text format.
    config_file: Optional[str] = None


@dataclasses.dataclass
class PipelineConfig:
    pipeline_name: str = "electra-tfx"
    model_name: str = "electra_classifier"
    task: str = "text-classification"
    # None means runs/<pipeline_name>.
    output: Optional[str] = None
    enable_cache: bool = True
    beam_args: List[str] = dataclasses.field(
        default_factory=lambda: ["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    task_options: TaskConfig = dataclasses.field(default_factory=TaskConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    metadata: MetadataConfig = dataclasses.field(default_factory=MetadataConfig)
    pretrain: PretrainConfig = dataclasses.field(default_factory=PretrainConfig)

    @property
    def output_dir(self) -> str:
        if self.output and "://" in self.output:
            return self.output.rstrip("/")  # a URI (gs://...; a compiled pipeline's root): as is
        return os.path.abspath(self.output or os.path.join("runs", self.pipeline_name))

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.output_dir, "serving", self.model_name)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def with_training_defaults(config: "PipelineConfig", checkpoint_source: str,
                           hidden_size: Optional[int] = None) -> "PipelineConfig":
    """A copy whose unset sequence length, learning rate and layer decay are filled in for
    the task and the resolved checkpoint."""
    resolved = from_dict(config.to_dict())
    if resolved.model.max_seq_length is None:
        resolved.model.max_seq_length = 384 if resolved.task == "question-answering" else 128
    scratch = checkpoint_source == "scratch"
    if resolved.train.learning_rate is None:
        resolved.train.learning_rate = (resolved.model.scratch_learning_rate if scratch
                                        else pretrained_learning_rate(hidden_size))
    if resolved.train.layer_decay is None:
        resolved.train.layer_decay = 1.0 if scratch else PRETRAINED_LAYER_DECAY
    if resolved.pretrain.steps is None:
        resolved.pretrain.steps = resolved.pretrain.scratch_steps if scratch else 0
    if resolved.eval.require_beat_baseline is None and scratch:
        # A small ELECTRA built from scratch (the offline fallback of `make run`) does not beat
        # TF-IDF on a few thousand sentences (0.80 vs 0.84 measured): it is shown beside the
        # baseline, but the baseline does not block its push unless asked to.
        resolved.eval.require_beat_baseline = False
    return resolved


class ConfigError(ValueError):
    """A configuration value that cannot be used, with the field it belongs to."""


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
        if len(owners) != 1:
            raise ConfigError(f"--set {key}: {'ambiguous' if owners else 'unknown'} field; "
                              f"known fields: {', '.join(all_field_names(config))}")
        target, name = owners[0], parts[0]
    else:
        target = config
        for part in parts[:-1]:
            if part not in _field_types(target) or not dataclasses.is_dataclass(getattr(target, part)):
                raise ConfigError(f"--set {key}: unknown section {part!r}; "
                                  f"known fields: {', '.join(all_field_names(config))}")
            target = getattr(target, part)
        name = parts[-1]
        if name not in _field_types(target):
            raise ConfigError(f"--set {key}: unknown field; known fields: "
                              f"{', '.join(all_field_names(config))}")
    setattr(target, name, _coerce(raw, _field_types(target)[name], key))


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


def from_dict(d: Dict[str, Any]) -> PipelineConfig:
    """Rebuilds a config from `to_dict()` output (used by run_fn and preprocessing_fn)."""
    sections = {f.name: f.type for f in dataclasses.fields(PipelineConfig)}
    kwargs = {}
    for key, value in d.items():
        if isinstance(value, dict):
            cls = typing.get_type_hints(PipelineConfig)[key]
            kwargs[key] = cls(**value)
        elif key in sections:
            kwargs[key] = value
    return PipelineConfig(**kwargs)
