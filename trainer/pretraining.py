"""ELECTRA pre-training: replaced-token detection (Clark et al., 2020) for tf-keras models.

A small generator (HuggingFace ``TFElectraForMaskedLM``) fills masked positions with tokens
sampled from its output distribution; the discriminator (``TFElectraForPreTraining``) learns,
for every token, whether it was replaced. Only the discriminator is kept, saved in HuggingFace
format so Transform and Trainer use it like any other checkpoint.

The recipe is google-research/electra's (``run_pretraining.py``, ``pretrain_helpers.py``):

* the generator is ``generator_hidden_fraction`` as wide as the discriminator (heads: hidden
  // 64, intermediate: 4 x hidden) and shares its embedding layer (token, position and
  segment embeddings); its output layer is tied to the token embeddings;
* ``mask_rate`` of each sequence's maskable tokens (never [CLS], [SEP], [PAD], [UNK] or
  [MASK]) are chosen uniformly without replacement; of those ``mask_token_rate`` are shown as
  [MASK], the others keep their token;
* replacements are sampled from the generator's softmax (Gumbel-max, no gradient through the
  sample; special tokens are never sampled); a position whose sample equals the original
  token is labelled "original";
* loss = generator MLM loss (mean over masked positions) + ``disc_weight`` x discriminator
  loss (mean sigmoid cross-entropy over all real tokens);
* AdamW with linear warm-up and linear decay, gradients clipped to a global norm of 1
  (``trainer.optimization``, without layer-wise decay); batches padded to their longest
  sequence (``trainer.data.batch_by_length``).

Written here because no maintained TensorFlow library offers it: transformers ships the
two model classes but no replaced-token-detection training, and the reference code is TF1.

Progress is checkpointed (generator, discriminator, optimizer, random state, data position)
with ``tf.train.CheckpointManager`` in ``work_dir``: calling :func:`pretrain` again with the
same ``work_dir`` resumes from the last checkpoint.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import shutil
import time
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

import pipeline_config
from trainer import console
from trainer import data as data_lib
from trainer import optimization
from trainer import tokenization
from trainer.checkpoints.files import (SPECIAL_TOKENS, TOKENIZER_CONFIG_FILE, VOCAB_FILE,
                                       read_lower_case)

_LOG = logging.getLogger(__name__)

# SPECIAL_TOKENS (trainer/checkpoints/files.py): never masked, never sampled as replacements.
PROGRESS_FILE = "progress.json"
# Written beside the exported checkpoint: what the pre-training did (steps, time, metrics).
REPORT_FILE = "pretraining.json"


class PretrainError(pipeline_config.ConfigError):
    """Pre-training cannot run as configured (no text, bad settings): the message says why."""


@dataclasses.dataclass
class PretrainResult:
    steps: int               # steps completed in total (all sessions)
    target_steps: int
    resumed_from: int        # the step this call started at (0: a fresh start)
    seconds: float           # training time over all sessions
    tokens_per_second: float  # real (non-padding) tokens per second of this call's steady state
    num_texts: int
    num_sequences: int
    num_tokens: int          # real tokens in one pass over the corpus
    metrics: Dict[str, float]  # the last logging window's means
    output_dir: Optional[str] = None  # the exported discriminator (None until complete)
    # This call's logging windows: {"step": s, **means}, oldest first.
    history: List[Dict[str, float]] = dataclasses.field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.steps >= self.target_steps

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- the recipe

def generator_config(discriminator_config, hidden_fraction: float, layers_fraction: float):
    """The generator's ElectraConfig: a narrower copy of the discriminator's that keeps its
    embedding size, vocabulary and positions (so the embedding layer can be shared)."""
    if not 0 < hidden_fraction <= 1 or not 0 < layers_fraction <= 1:
        raise PretrainError(
            f"generator_hidden_fraction ({hidden_fraction}) and generator_layers_fraction "
            f"({layers_fraction}) must be in (0, 1]")
    config = copy.deepcopy(discriminator_config)
    hidden = max(1, int(round(discriminator_config.hidden_size * hidden_fraction)))
    heads = max(1, hidden // 64)
    while hidden % heads:  # the width must split evenly into heads
        heads -= 1
    config.hidden_size = hidden
    config.num_attention_heads = heads
    config.intermediate_size = 4 * hidden
    config.num_hidden_layers = max(
        1, int(round(discriminator_config.num_hidden_layers * layers_fraction)))
    config.embedding_size = discriminator_config.embedding_size
    config.architectures = ["ElectraForMaskedLM"]
    return config


def share_embeddings(generator, discriminator) -> None:
    """Makes the (built) generator use the discriminator's embedding layer, and ties the
    generator's output layer to it. The generator's own embeddings are dropped."""
    embeddings = discriminator.electra.embeddings
    generator.electra.embeddings = embeddings
    generator.generator_lm_head.input_embeddings = embeddings


def maskable(input_ids: tf.Tensor, special_ids: Sequence[int]) -> tf.Tensor:
    """bool [B, T]: positions that may be masked (not a special token, not padding)."""
    special = tf.constant(list(special_ids), dtype=input_ids.dtype)
    return tf.reduce_all(tf.not_equal(input_ids[..., None], special), axis=-1)


def mask_tokens(input_ids: tf.Tensor, candidates: tf.Tensor, rng: tf.random.Generator, *,
                mask_rate: float, mask_token_rate: float, mask_id: int):
    """Chooses round(mask_rate x candidates) positions of each row (at least one when the row
    has a candidate), uniformly without replacement among `candidates`; shows
    `mask_token_rate` of them as [MASK] and leaves the others unchanged.

    Returns (the generator's input ids, bool [B, T] chosen positions).
    """
    shape = tf.shape(input_ids)
    # Candidates get a random score in [0, 1), the rest 2: the k lowest ranks are chosen.
    scores = tf.where(candidates, rng.uniform(shape), 2.0)
    ranks = tf.argsort(tf.argsort(scores, axis=-1, stable=True), axis=-1, stable=True)
    num_candidates = tf.reduce_sum(tf.cast(candidates, tf.float32), axis=-1)
    k = tf.floor(num_candidates * mask_rate + 0.5)
    k = tf.maximum(k, tf.minimum(num_candidates, 1.0))
    chosen = tf.logical_and(tf.cast(ranks, tf.float32) < k[:, None], candidates)
    show_mask = tf.logical_and(chosen, rng.uniform(shape) < mask_token_rate)
    masked = tf.where(show_mask, tf.cast(mask_id, input_ids.dtype), input_ids)
    return masked, chosen


def sample_tokens(logits: tf.Tensor, rng: tf.random.Generator, temperature: float,
                  disallowed: tf.Tensor) -> tf.Tensor:
    """int32 [...]: one token per row of `logits` [..., V], drawn from softmax(logits /
    temperature) (Gumbel-max), never a `disallowed` id (bool [V]); no gradient flows through
    the sample."""
    logits = tf.stop_gradient(logits) / temperature
    logits += tf.where(disallowed, -1e9, 0.0)
    uniform = rng.uniform(tf.shape(logits), minval=1e-9, maxval=1.0)
    gumbel = -tf.math.log(-tf.math.log(uniform))
    return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)


def replaced_token_labels(input_ids: tf.Tensor, sampled: tf.Tensor, chosen: tf.Tensor):
    """The discriminator's input (samples at the chosen positions) and its labels: 1 where
    the token was replaced by a *different* one; a sample equal to the original is 0."""
    sampled = tf.cast(sampled, input_ids.dtype)
    discriminator_ids = tf.where(chosen, sampled, input_ids)
    labels = tf.logical_and(chosen, tf.not_equal(sampled, input_ids))
    return discriminator_ids, labels


class ReplacedTokenDetection(tf.Module):
    """The generator, the discriminator and one training step of the joint loss."""

    def __init__(self, generator, discriminator, *, vocab: List[str], config):
        super().__init__(name="replaced_token_detection")
        self.generator = generator
        self.discriminator = discriminator
        self.config = config
        ids = {token: i for i, token in enumerate(vocab)}
        missing = [t for t in SPECIAL_TOKENS if t not in ids]
        if missing:
            raise PretrainError(f"the vocabulary lacks the special tokens {', '.join(missing)}")
        self.pad_id, self.mask_id = ids["[PAD]"], ids["[MASK]"]
        self.special_ids = sorted({ids[t] for t in SPECIAL_TOKENS})
        # Special tokens, and ids past the vocabulary file (config.vocab_size may be larger).
        special = set(self.special_ids)
        self.disallowed = tf.constant(
            [i in special or i >= len(vocab)
             for i in range(int(discriminator.config.vocab_size))], dtype=tf.bool)

    def trainable_variables_unique(self) -> List[tf.Variable]:
        seen, out = set(), []
        for variable in (self.discriminator.trainable_variables
                         + self.generator.trainable_variables):
            if variable.ref() not in seen:
                seen.add(variable.ref())
                out.append(variable)
        return out

    def generator_logits(self, input_ids, attention_mask, token_type_ids, positions,
                         training: bool) -> tf.Tensor:
        """float32 [M, V]: the generator's logits at `positions` ([M, 2] batch/time indices);
        TFElectraForMaskedLM.call, with the positions gathered before the output layers."""
        hidden = self.generator.electra(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            training=training)[0]
        hidden = tf.gather_nd(hidden, positions)[None]  # [1, M, H]
        hidden = self.generator.generator_predictions(hidden, training=training)
        logits = self.generator.generator_lm_head(hidden, training=training)[0]
        return tf.cast(logits, tf.float32)

    def forward(self, input_ids: tf.Tensor, rng: tf.random.Generator, training: bool):
        """Losses and per-token tensors for one batch of int32 [B, T] ids (0-padded)."""
        cfg = self.config
        real = tf.not_equal(input_ids, self.pad_id)
        attention_mask = tf.cast(real, tf.int32)
        token_type_ids = tf.zeros_like(input_ids)
        candidates = tf.logical_and(real, maskable(input_ids, self.special_ids))
        generator_ids, chosen = mask_tokens(
            input_ids, candidates, rng, mask_rate=cfg.mask_rate,
            mask_token_rate=cfg.mask_token_rate, mask_id=self.mask_id)
        # As in ELECTRA, the generator's output layer runs on the masked positions only.
        positions = tf.where(chosen)  # [M, 2]
        generator_logits = self.generator_logits(
            generator_ids, attention_mask, token_type_ids, positions, training)  # [M, V]
        originals = tf.gather_nd(input_ids, positions)
        sampled = tf.tensor_scatter_nd_update(
            input_ids, positions,
            sample_tokens(generator_logits, rng, cfg.temperature, self.disallowed))
        discriminator_ids, labels = replaced_token_labels(input_ids, sampled, chosen)
        discriminator_logits = self.discriminator(
            input_ids=discriminator_ids, attention_mask=attention_mask,
            token_type_ids=token_type_ids, training=training).logits

        num_chosen = tf.maximum(tf.cast(tf.shape(positions)[0], tf.float32), 1.0)
        generator_loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=originals, logits=generator_logits)) / num_chosen
        real_f = tf.cast(real, tf.float32)
        num_real = tf.maximum(tf.reduce_sum(real_f), 1.0)
        labels_f = tf.cast(labels, tf.float32)
        discriminator_logits = tf.cast(discriminator_logits, tf.float32)
        discriminator_loss = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=labels_f, logits=discriminator_logits) * real_f) / num_real
        loss = generator_loss + cfg.disc_weight * discriminator_loss

        predicted = tf.argmax(generator_logits, axis=-1, output_type=originals.dtype)
        return {
            "loss": loss,
            "generator_loss": generator_loss,
            "discriminator_loss": discriminator_loss,
            "generator_correct": tf.reduce_sum(tf.cast(tf.equal(predicted, originals),
                                                       tf.float32)),
            "num_masked": tf.cast(tf.shape(positions)[0], tf.float32),
            "num_replaced": tf.reduce_sum(labels_f),
            "discriminator_correct": tf.reduce_sum(tf.cast(
                tf.equal(discriminator_logits > 0, labels), tf.float32) * real_f),
            "num_tokens": tf.reduce_sum(real_f),
            # For the AUC: every real token's probability of "replaced" and its label.
            "probabilities": tf.sigmoid(discriminator_logits),
            "labels": labels_f,
            "weights": real_f,
        }


def build_models(start_dir: str, config, seed: int):
    """(generator, discriminator): the discriminator from `start_dir`, a fresh generator
    sharing its embeddings. Both are built (their variables exist)."""
    from transformers import TFElectraForMaskedLM, TFElectraForPreTraining

    discriminator = TFElectraForPreTraining.from_pretrained(start_dir, use_safetensors=False)
    discriminator(discriminator.dummy_inputs, training=False)
    tf_keras.utils.set_random_seed(seed)
    generator = TFElectraForMaskedLM(generator_config(
        discriminator.config, config.generator_hidden_fraction,
        config.generator_layers_fraction))
    generator(generator.dummy_inputs, training=False)
    share_embeddings(generator, discriminator)
    return generator, discriminator


# --------------------------------------------------------------------------- data

def encode_corpus(encoder: tokenization.WordPieceEncoder, texts: Iterable[str],
                  max_seq_length: int, chunk: int = 1024, pack: bool = True) -> List[np.ndarray]:
    """Pre-training sequences of at most `max_seq_length` ids, each `[CLS] ... [SEP]`.

    `pack`: consecutive texts fill one sequence, each followed by [SEP] (`[CLS] a [SEP] b
    [SEP] ...`), as BERT's and ELECTRA's data builders pack sentences into full-length
    sequences: a step then sees as many tokens as the batch shape allows, and each token has
    its neighbours as context (a corpus of short lines would otherwise give ~20-token rows).
    Without `pack`, one text per sequence. Either way a text longer than a sequence is cut
    into several (pre-training wastes nothing by truncating). Empty texts are skipped.
    """
    if max_seq_length < 3:
        raise PretrainError(f"pretrain.max_seq_length must be >= 3, got {max_seq_length}")
    body = max_seq_length - 2
    texts = [t for t in texts if t and t.strip()]
    sequences: List[np.ndarray] = []
    packed: List[int] = []  # the open sequence's ids after [CLS], each text ending in [SEP]

    def close() -> None:
        if packed:
            sequences.append(np.asarray([encoder.cls_id] + packed, dtype=np.int32))
            packed.clear()

    for start in range(0, len(texts), chunk):
        pieces = encoder.tokenize(tf.constant(texts[start:start + chunk]))
        values, splits = pieces.flat_values.numpy(), pieces.row_splits.numpy()
        for row in range(len(splits) - 1):
            ids = values[splits[row]:splits[row + 1]].tolist()
            for window in range(0, len(ids), body):
                piece = ids[window:window + body] + [encoder.sep_id]
                if not pack or len(packed) + len(piece) > max_seq_length - 1:
                    close()
                packed.extend(piece)
    close()
    return sequences


def make_dataset(sequences: List[np.ndarray], *, batch_size: int, boundaries: Sequence[int],
                 seed: int, skip_batches: int = 0) -> tf.data.Dataset:
    """An endless, shuffled stream of int32 [B, T] batches, each padded (with 0) to its longest
    sequence. `skip_batches` resumes the same stream where an earlier session stopped."""
    values = tf.constant(np.concatenate(sequences).astype(np.int32))
    splits = tf.constant(np.cumsum([0] + [len(s) for s in sequences]), tf.int64)
    ds = tf.data.Dataset.range(len(sequences)).map(
        lambda i: {"input_ids": values[splits[i]:splits[i + 1]]})
    ds = ds.shuffle(len(sequences), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = data_lib.batch_by_length(ds, batch_size, boundaries)
    ds = ds.map(lambda batch: batch["input_ids"])
    if skip_batches:
        ds = ds.skip(skip_batches)
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- the loop

def pretrain(start_dir: str, texts: Sequence[str], out_dir: str, *, work_dir: str, config,
             log_dir: Optional[str] = None, stop_after: Optional[int] = None,
             report=print) -> PretrainResult:
    """Pre-trains the checkpoint in `start_dir` on `texts` for `config.steps` steps in total
    and writes the discriminator to `out_dir` (config.json, tf_model.h5, vocab.txt,
    tokenizer_config.json and pretraining.json).

    `work_dir` holds the resumable state; a call with a `work_dir` from an interrupted (or
    `stop_after`) call continues from its last checkpoint. `stop_after` stops this call after
    that many steps (checkpointed, nothing exported). `log_dir` receives TensorBoard events.
    `report` gets one progress line every `config.log_every` steps.
    """
    steps = int(config.steps or 0)
    if steps <= 0:
        raise PretrainError(f"pretrain.steps must be > 0, got {config.steps}")
    check_settings(config)
    vocab = tokenization.load_vocab(os.path.join(start_dir, VOCAB_FILE))
    lower_case = read_lower_case(start_dir)
    encoder = tokenization.WordPieceEncoder(vocab, lower_case)
    texts = list(texts)
    sequences = encode_corpus(encoder, texts, config.max_seq_length,
                              pack=config.pack_texts)
    if not sequences:
        raise PretrainError("no text to pre-train on: the corpus and the training text are "
                            "empty")
    num_tokens = int(sum(len(s) for s in sequences))

    generator, discriminator = build_models(start_dir, config, config.seed)
    rtd = ReplacedTokenDetection(generator, discriminator, vocab=vocab, config=config)
    variables = rtd.trainable_variables_unique()
    optimizer = optimization.create_optimizer(
        learning_rate=config.learning_rate, num_train_steps=steps,
        warmup_ratio=config.warmup_ratio, weight_decay=config.weight_decay, layer_decay=1.0,
        num_layers=int(discriminator.config.num_hidden_layers), clip_norm=config.clip_norm)
    optimizer.build(variables)
    rng = tf.random.Generator.from_seed(config.seed)
    checkpoint = tf.train.Checkpoint(generator=generator, discriminator=discriminator,
                                     optimizer=optimizer, rng=rng)
    manager = tf.train.CheckpointManager(checkpoint, work_dir, max_to_keep=1)
    progress = _read_progress(work_dir)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        _LOG.info("Resuming pre-training from %s", manager.latest_checkpoint)
    start = int(optimizer.iterations.numpy())
    if start > 0:
        report(f"Pre-training resumes at step {start}/{steps} ({work_dir})")

    auc = tf_keras.metrics.AUC(num_thresholds=200, name="discriminator_auc")

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def train_step(input_ids):
        with tf.GradientTape() as tape:
            out = rtd.forward(input_ids, rng, training=True)
        gradients = tape.gradient(out["loss"], variables)
        optimizer.apply_gradients(zip(gradients, variables))
        auc.update_state(out["labels"], out["probabilities"], sample_weight=out["weights"])
        return {k: v for k, v in out.items()
                if k not in ("probabilities", "labels", "weights")}

    dataset = make_dataset(sequences, batch_size=config.batch_size,
                           boundaries=config.bucket_boundaries, seed=config.seed,
                           skip_batches=start)
    writer = tf.summary.create_file_writer(log_dir) if log_dir else None
    end = steps if stop_after is None else min(steps, start + int(stop_after))
    window = _Window()
    history: List[Dict[str, float]] = []
    metrics = progress.get("metrics", {})
    seconds = float(progress.get("seconds", 0.0))
    steady_tokens, steady_started = 0.0, None
    loop_started = time.time()
    step = start
    for input_ids in dataset.take(max(0, end - start)):
        out = train_step(input_ids)
        step += 1
        window.add({k: float(v) for k, v in out.items()})
        if step == start + 1:
            steady_started = time.time()  # the first step traced the graph
        else:
            steady_tokens += float(out["num_tokens"])
        if step % config.log_every == 0 or step == end:
            metrics = window.means(auc.result().numpy())
            auc.reset_state()
            window = _Window()
            history.append(dict(metrics, step=step))
            report(f"Pre-training step {step}/{steps}: loss {metrics['loss']:.3f} "
                   f"(generator {metrics['generator_loss']:.3f}, discriminator "
                   f"{metrics['discriminator_loss']:.4f}); generator MLM accuracy "
                   f"{metrics['generator_accuracy']:.3f}; discriminator accuracy "
                   f"{metrics['discriminator_accuracy']:.3f}, AUC "
                   f"{metrics['discriminator_auc']:.3f}"
                   + _eta(time.time() - loop_started, step - start, end - start))
            if writer is not None:
                with writer.as_default(step=step):
                    for name, value in metrics.items():
                        tf.summary.scalar(f"pretrain/{name}", value)
                    tf.summary.scalar("pretrain/learning_rate",
                                      float(optimizer.learning_rate))
        if step % config.checkpoint_every == 0 or step == end:
            manager.save(checkpoint_number=step)
            _write_progress(work_dir, step, seconds + time.time() - loop_started, metrics)
    if writer is not None:
        writer.flush()
    seconds += time.time() - loop_started
    steady_seconds = time.time() - steady_started if steady_started else 0.0
    result = PretrainResult(
        steps=step, target_steps=steps, resumed_from=start, seconds=seconds,
        tokens_per_second=steady_tokens / steady_seconds if steady_seconds > 0 else 0.0,
        num_texts=len(texts), num_sequences=len(sequences), num_tokens=num_tokens,
        metrics=metrics, history=history)
    if result.complete:
        if step == start:  # finished in an earlier session: report that session's speed
            result.tokens_per_second = float(progress.get("tokens_per_second", 0.0))
        export_discriminator(discriminator, start_dir, out_dir, lower_case, result)
        result.output_dir = os.path.abspath(out_dir)
        _write_progress(work_dir, step, seconds, metrics, result.tokens_per_second)
    return result


def _eta(elapsed: float, done: int, total: int) -> str:
    """'; ETA 40 s' while steps remain (trainer/console.py's estimate), else ''."""
    eta = console.eta_text(elapsed, done, total) if done < total else ""
    return f"; {eta}" if eta else ""


def export_discriminator(discriminator, start_dir: str, out_dir: str, lower_case: bool,
                         result: PretrainResult) -> None:
    """HuggingFace format: save_pretrained's config.json and tf_model.h5, the start
    checkpoint's vocabulary and tokenizer settings, and pretraining.json."""
    os.makedirs(out_dir, exist_ok=True)
    discriminator.save_pretrained(out_dir)
    shutil.copyfile(os.path.join(start_dir, VOCAB_FILE), os.path.join(out_dir, VOCAB_FILE))
    tokenizer_config = os.path.join(start_dir, TOKENIZER_CONFIG_FILE)
    if os.path.isfile(tokenizer_config):
        shutil.copyfile(tokenizer_config, os.path.join(out_dir, TOKENIZER_CONFIG_FILE))
    else:
        with open(os.path.join(out_dir, TOKENIZER_CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump({"do_lower_case": lower_case, "tokenizer_class": "ElectraTokenizer"}, f)
    report = dict(result.to_dict(), output_dir=os.path.abspath(out_dir))
    report.pop("history")
    with open(os.path.join(out_dir, REPORT_FILE), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, sort_keys=True)


def read_report(checkpoint_dir: str) -> Optional[dict]:
    """pretraining.json of a checkpoint this module exported (None for any other)."""
    path = os.path.join(checkpoint_dir, REPORT_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


class _Window:
    """Sums of one logging window's per-step outputs."""

    def __init__(self):
        self.sums: Dict[str, float] = {}
        self.steps = 0

    def add(self, out: Dict[str, float]) -> None:
        self.steps += 1
        for key, value in out.items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    def means(self, auc: float) -> Dict[str, float]:
        s, n = self.sums, max(self.steps, 1)
        return {
            "loss": s["loss"] / n,
            "generator_loss": s["generator_loss"] / n,
            "discriminator_loss": s["discriminator_loss"] / n,
            "generator_accuracy": s["generator_correct"] / max(s["num_masked"], 1.0),
            "discriminator_accuracy": s["discriminator_correct"] / max(s["num_tokens"], 1.0),
            "discriminator_auc": float(auc),
            # Share of the masked positions the generator actually changed.
            "replaced_fraction": s["num_replaced"] / max(s["num_masked"], 1.0),
        }


def check_settings(config) -> None:
    """Raises PretrainError for settings outside their range."""
    checks = [
        (0 < config.mask_rate < 1, f"pretrain.mask_rate must be in (0, 1), got {config.mask_rate}"),
        (0 <= config.mask_token_rate <= 1,
         f"pretrain.mask_token_rate must be in [0, 1], got {config.mask_token_rate}"),
        (config.batch_size > 0, f"pretrain.batch_size must be > 0, got {config.batch_size}"),
        (config.temperature > 0, f"pretrain.temperature must be > 0, got {config.temperature}"),
        (config.checkpoint_every > 0 and config.log_every > 0,
         "pretrain.checkpoint_every and pretrain.log_every must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise PretrainError(message)


def _read_progress(work_dir: str) -> dict:
    path = os.path.join(work_dir, PROGRESS_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write_progress(work_dir: str, step: int, seconds: float, metrics: Dict[str, float],
                    tokens_per_second: Optional[float] = None) -> None:
    progress = {"step": step, "seconds": seconds, "metrics": metrics}
    if tokens_per_second is not None:
        progress["tokens_per_second"] = tokens_per_second
    os.makedirs(work_dir, exist_ok=True)
    tmp = os.path.join(work_dir, PROGRESS_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(progress, f)
    os.replace(tmp, os.path.join(work_dir, PROGRESS_FILE))
