"""The checks that take a second, run before TensorFlow loads: a mistake in the flags, the data
files or the checkpoint folder is reported at once instead of after the minute TensorFlow and
TFX take to load (pipeline/cli.py runs them after the config's own checks).

Nothing here imports TensorFlow; `tests/test_first_hour.py` holds it to that. The same
functions check the same things again in the pipeline (the data scan, the readers, the
checkpoint resolution), on every row and on remote paths, which are not read here.
"""
from typing import List

import pipeline_config
from components.input_files import InputError, is_tfds, resolve_inputs
from components.readers.errors import BadInputError
from components.readers.head import check_head
from trainer.checkpoint import CheckpointError, check_requested, hub_checkpoint, is_keyword
from trainer.tasks import input_columns
from trainer.uris import is_uri

# The errors whose one-line message is the whole story (exit 2, no traceback).
ERRORS = (InputError, BadInputError, CheckpointError, pipeline_config.ConfigError)
# Files of one --train/--eval path whose heads are read (a folder of thousands of shards: the
# first ones; the data scan reads them all).
MAX_FILES = 20


def check(cfg: pipeline_config.PipelineConfig, on_cluster: bool = False,
          read_data: bool = True) -> None:
    """Raises one of ERRORS for a --checkpoint that cannot be one, a --train/--eval that names
    no readable file of a recognised format, or a file without the columns the task reads.
    `on_cluster` (compile): a checkpoint URI is the cluster's to read (pipeline/compiler.py);
    `read_data=False`: the data files are not read (compile --label-counts).

    A ML Metadata store given by flag is checked first (its address or file, and the MySQL
    credentials from the environment); a hub id is fetched last (from the HuggingFace cache,
    else downloaded; offline it fails at once). On a cluster, both are the cluster's."""
    if not on_cluster and (cfg.metadata.mysql or cfg.metadata.config_file):
        from pipeline import metadata_config  # the MySQL address or the config file, credentials
        metadata_config.connection_config(cfg)
    checkpoint = cfg.model.checkpoint
    local = None
    if not (on_cluster and is_uri(checkpoint)):
        local = check_requested(checkpoint)
    if read_data:
        _check_data(cfg)
    if not on_cluster and local is None and not is_keyword(checkpoint):
        hub_checkpoint(checkpoint.strip(), cfg.model.hub_timeout_seconds)


def _check_data(cfg: pipeline_config.PipelineConfig) -> None:
    data = cfg.data
    if any(is_tfds(path) or is_uri(path)
           for path in (data.train, data.eval) if path):
        return  # read where TensorFlow is loaded (TFDS, gs:// and the like)
    inputs = resolve_inputs(data.train, data.eval, data.eval_percent)
    texts, label = input_columns(cfg)
    required: List[str] = list(texts) + ([label] if label else [])
    for files in (inputs.train_files, inputs.eval_files):
        for path in files[:MAX_FILES]:
            check_head(path, required)
