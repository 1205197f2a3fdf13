"""What every step of a run needs to know, passed through TFX's custom_config."""
import dataclasses
from typing import Any, Dict, Optional

import pipeline_config


_NOT_FOR_TRANSFORM = ("train", "eval", "output", "enable_cache", "beam_args", "metadata")


@dataclasses.dataclass
class RunContext:
    config: pipeline_config.PipelineConfig
    # The resolved local checkpoint directory (HuggingFace format).
    checkpoint_dir: str
    # None: read from the checkpoint where it is used (compiled pipelines, remote_checkpoint.py).
    lower_case: Optional[bool]
    # Label names as the CLI found them in the training data (for metrics set-up only;
    # the model's own label vocabulary is the one Transform learns).
    num_labels: int = 0
    # The content of --pretrain-corpus (a cache key for the pre-training component).
    pretrain_corpus_fingerprint: str = ""

    def to_custom_config(self) -> Dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "checkpoint_dir": self.checkpoint_dir,
            "lower_case": self.lower_case,
            "num_labels": self.num_labels,
        }

    def transform_custom_config(self) -> Dict[str, Any]:
        """Only what preprocessing reads, so that changing e.g. the number of epochs does not
        invalidate Transform's cached output (the custom_config is part of the cache key)."""
        custom_config = self.to_custom_config()
        custom_config["config"] = {key: value for key, value in custom_config["config"].items()
                                   if key not in _NOT_FOR_TRANSFORM}
        return custom_config

    @classmethod
    def from_custom_config(cls, custom_config: Dict[str, Any]) -> "RunContext":
        return cls(
            config=pipeline_config.from_dict(custom_config["config"]),
            checkpoint_dir=custom_config["checkpoint_dir"],
            lower_case=(None if custom_config["lower_case"] is None
                        else bool(custom_config["lower_case"])),
            num_labels=int(custom_config.get("num_labels", 0)),
        )
