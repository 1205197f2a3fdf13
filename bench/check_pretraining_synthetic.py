"""Is slow ELECTRA pre-training the component or the budget? A check on a trivial corpus.

3,000 "sentences" count through 20 code words in order ("delta echo foxtrot golf ..."), so a
replaced token always breaks the sequence and a masked one is fixed by its neighbours. Two
runs, same scratch shapes (ModelConfig defaults), same number of steps:

* ``component``: trainer/pretraining.py (what ElectraPretrainer runs), with `--set`-style
  overrides of `pretrain.*` given as JSON (e.g. '{"generator_hidden_fraction": 1.0}');
* ``plain``: HF's TFElectraForPreTraining alone, plain Adam, a plain tf.function loop, tokens
  replaced uniformly at random (the easiest version of the task).

If the component's discriminator AUC trails the plain loop's, suspect the component.

    TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 HF_HUB_OFFLINE=1 TF_ENABLE_ONEDNN_OPTS=1 \\
        .venv/bin/python bench/check_pretraining_synthetic.py --mode component --steps 400
    ... --mode plain --steps 400
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
         "sierra", "tango"]


def counting_texts(n: int = 3000, seed: int = 0):
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        start, length = rng.randrange(len(WORDS)), rng.randrange(8, 20)
        texts.append(" ".join(WORDS[(start + i) % len(WORDS)] for i in range(length)))
    return texts


def component(checkpoint: str, texts, out: str, steps: int, overrides: dict) -> None:
    import pipeline_config
    from trainer import pretraining
    settings = dataclasses.replace(pipeline_config.PretrainConfig(), steps=steps,
                                   max_seq_length=32, log_every=100, **overrides)
    pretraining.pretrain(checkpoint, texts, os.path.join(out, "pretrained"),
                         work_dir=os.path.join(out, "state"), config=settings, report=print)


def plain(checkpoint: str, texts, steps: int, learning_rate: float) -> None:
    import numpy as np
    import tensorflow as tf
    import tf_keras
    from transformers import TFElectraForPreTraining
    from trainer import tokenization
    from trainer.pretraining import SPECIAL_TOKENS
    vocab = tokenization.load_vocab(os.path.join(checkpoint, "vocab.txt"))
    encoder = tokenization.WordPieceEncoder(vocab, lower_case=True)
    ids = encoder.encode(tf.constant(texts), 32)["input_ids"].to_tensor().numpy()
    special = {vocab.index(t) for t in SPECIAL_TOKENS}
    assert vocab.index("[PAD]") == 0  # padding positions are id 0 below
    word_ids = sorted(set(ids.flatten().tolist()) - special)
    model = TFElectraForPreTraining.from_pretrained(checkpoint, use_safetensors=False,
                                                    local_files_only=True)
    optimizer = tf_keras.optimizers.Adam(learning_rate)
    rng = np.random.default_rng(0)
    auc = tf_keras.metrics.AUC()

    def batch():
        b = ids[rng.integers(0, len(ids), 32)].copy()
        real = b > 0
        candidates = real & ~np.isin(b, list(special))
        chosen = candidates & (rng.random(b.shape) < 0.15)
        replacement = rng.choice(word_ids, b.shape)
        labels = chosen & (replacement != b)
        return (tf.constant(np.where(chosen, replacement, b), tf.int32),
                tf.constant(real, tf.int32), tf.constant(labels, tf.float32))

    @tf.function
    def step(x, mask, y):
        with tf.GradientTape() as tape:
            logits = model(input_ids=x, attention_mask=mask, training=True).logits
            w = tf.cast(mask, tf.float32)
            loss = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
                labels=y, logits=logits) * w) / tf.reduce_sum(w)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        auc.update_state(y, tf.sigmoid(logits), sample_weight=w)
        return loss

    for i in range(1, steps + 1):
        loss = step(*batch())
        if i % 100 == 0 or i == steps:
            print(f"plain step {i}/{steps}: discriminator loss {float(loss):.3f}, "
                  f"AUC {float(auc.result()):.3f}")
            auc.reset_state()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--mode", choices=("component", "plain"), required=True)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--learning-rate", type=float, default=1e-3, help="plain mode")
    p.add_argument("--set", default="{}", help="component mode: pretrain.* overrides as JSON")
    p.add_argument("--out", default=os.path.join(REPO_ROOT, "bench", "out", "synthetic"))
    args = p.parse_args(argv)
    import tensorflow_text  # noqa: F401  (WordPiece ops)
    import pipeline_config
    from trainer.checkpoint import build_scratch_checkpoint
    texts = counting_texts()
    shutil.rmtree(args.out, ignore_errors=True)
    checkpoint = build_scratch_checkpoint(texts, os.path.join(args.out, "scratch"),
                                          pipeline_config.ModelConfig())
    if args.mode == "component":
        component(checkpoint, texts, args.out, args.steps, json.loads(args.set))
    else:
        plain(checkpoint, texts, args.steps, args.learning_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
