"""ElectraPretrainer: ELECTRA pre-training (replaced-token detection) as a pipeline component.

    pretrainer = ElectraPretrainer(
        examples=example_gen.outputs["examples"],
        start_checkpoint="/path/to/hf-electra",      # the resolved --checkpoint
        text_columns='["text"]', pretrain_config=json.dumps(dataclasses.asdict(cfg.pretrain)),
        work_dir="runs/x/checkpoints", corpus_fingerprint="...")
    trainer = tfx.components.Trainer(..., base_model=pretrainer.outputs["checkpoint"])

It reads the unlabelled text (the training split's text columns and/or `pretrain.corpus`),
pre-trains the start checkpoint's discriminator with a fresh generator
(trainer/pretraining.py) and outputs a `Model` artifact whose `Format-Serving` folder is a
HuggingFace-format checkpoint (config.json, tf_model.h5, vocab.txt, tokenizer_config.json,
pretraining.json): the Trainer's `base_model`, which run_fn loads instead of the start
checkpoint. The vocabulary is the start checkpoint's, so Transform's token ids (computed from
the start checkpoint before the pipeline was built) stay valid.

The resumable state lives in `<work_dir>/pretrain-<fingerprint>/` (the fingerprint covers the
start checkpoint's files, the settings and the text): a run interrupted during pre-training
resumes from its last checkpoint when run again; TensorBoard logs are in its `logs/` folder.
"""
import hashlib
import json
import os
from types import SimpleNamespace
from typing import List

from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components import pretrain_corpus
from trainer.checkpoints.files import CONFIG_FILE, TF_WEIGHTS, TOKENIZER_CONFIG_FILE, VOCAB_FILE

COMPONENT_ID = "ElectraPretrainer"
TRAIN_SPLIT = "train"
_FINGERPRINT_FILES = (CONFIG_FILE, VOCAB_FILE, TOKENIZER_CONFIG_FILE, TF_WEIGHTS)


def state_dir(work_dir: str, start_checkpoint: str, pretrain_config: dict,
              texts_fingerprint: str) -> str:
    """The stable folder of one pre-training's resumable state."""
    digest = hashlib.sha256()
    for name in _FINGERPRINT_FILES:
        path = os.path.join(start_checkpoint, name)
        digest.update(name.encode())
        if os.path.isfile(path):
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    # How often progress is logged or saved does not change the result.
    settings = {k: v for k, v in pretrain_config.items()
                if k not in ("checkpoint_every", "log_every")}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(texts_fingerprint.encode())
    return os.path.join(work_dir, f"pretrain-{digest.hexdigest()[:12]}")


def gather_texts(examples_split_uri: str, text_columns: List[str], config: dict) -> List[str]:
    """The training split's text (when `use_training_text`) followed by the corpus'."""
    texts = []
    if config.get("use_training_text", True):
        texts += pretrain_corpus.read_examples_text(
            os.path.join(examples_split_uri, "*"), text_columns)
    if config.get("corpus"):
        texts += pretrain_corpus.read_corpus(config["corpus"],
                                             config.get("corpus_text_column", "text"))
    return texts


@tfx.dsl.components.component
def ElectraPretrainer(  # noqa: N802 (a component is named like a class)
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
    checkpoint: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Model],
    start_checkpoint: tfx.dsl.components.Parameter[str],
    text_columns: tfx.dsl.components.Parameter[str],
    pretrain_config: tfx.dsl.components.Parameter[str],
    work_dir: tfx.dsl.components.Parameter[str],
    # The corpus files' content: the path alone would let the cache reuse a stale result.
    corpus_fingerprint: tfx.dsl.components.Parameter[str] = "",
) -> None:
    from trainer import pretraining  # TensorFlow models: imported when the component runs

    config = json.loads(pretrain_config)
    texts = gather_texts(artifact_utils.get_split_uri([examples], TRAIN_SPLIT),
                         json.loads(text_columns), config)
    state = state_dir(work_dir, start_checkpoint, config, pretrain_corpus.fingerprint(texts))
    result = pretraining.pretrain(
        start_checkpoint, texts, path_utils.serving_model_dir(checkpoint.uri),
        work_dir=state, config=SimpleNamespace(**config), log_dir=os.path.join(state, "logs"),
        report=lambda line: print(f"  {line}", flush=True))
    checkpoint.set_int_custom_property("pretrain_steps", result.steps)
    checkpoint.set_float_custom_property("pretrain_seconds", result.seconds)
    for name, value in result.metrics.items():
        checkpoint.set_float_custom_property(name, float(value))
    checkpoint.set_string_custom_property("pretrain_state_dir", state)
