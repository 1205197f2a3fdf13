"""What every step of a run needs to know, passed through TFX's custom_config.

Each component receives what it reads: the Trainer the whole resolved config, Transform (and
the baseline Trainer) a cut-down copy, so that e.g. changing the number of epochs does not
invalidate Transform's cached output (the custom_config is part of the cache key). A cut-down
copy comes back from `from_custom_config` with ConfigViews in place of the sections it lacks:
reading a field that was not passed is an error, not the field's default.
"""
import dataclasses
from typing import Any, Dict, List, Optional

import pipeline_config


_NOT_FOR_TRANSFORM = ("train", "eval", "output", "enable_cache", "beam_args", "metadata")


@dataclasses.dataclass
class RunContext:
    config: pipeline_config.PipelineConfig
    # The resolved local checkpoint directory (HuggingFace format).
    checkpoint_dir: str
    # None: read from the checkpoint where it is used (compiled pipelines, remote_checkpoint.py).
    lower_case: Optional[bool]
    # The content of --pretrain-corpus (a cache key for the pre-training component).
    pretrain_corpus_fingerprint: str = ""
    # The labels (token classification: tags) in class-id order, natural order of the
    # declared or scanned label set (trainer/label_order.py); Transform reserves them at the
    # start of its label vocabulary. Empty: the vocabulary's own (frequency) order.
    labels: List[str] = dataclasses.field(default_factory=list)
    # True in a compiled pipeline: the config was resolved with pipeline_config.ON_CLUSTER
    # (the checkpoint's size is unknown at compile time), and the Trainer's run_fn resolves
    # what was left (the learning rate) once, where the checkpoint is.
    resolve_in_trainer: bool = False

    def to_custom_config(self) -> Dict[str, Any]:
        config = {key: value for key, value in self.config.to_dict().items()
                  if key not in pipeline_config.NOT_IN_COMPONENT_CONFIG}  # no cache key
        return {
            "config": config,
            "checkpoint_dir": self.checkpoint_dir,
            "lower_case": self.lower_case,
            "labels": list(self.labels),
            "resolve_in_trainer": self.resolve_in_trainer,
        }

    def view_custom_config(self, component: str,
                           fields: Optional[Dict[str, tuple]] = None) -> Dict[str, Any]:
        """The custom_config of a component that reads only part of the config: every section
        but the training ones (_NOT_FOR_TRANSFORM), plus `fields` (section -> field names)."""
        custom_config = self.to_custom_config()
        full = custom_config["config"]
        config = {key: value for key, value in full.items() if key not in _NOT_FOR_TRANSFORM}
        for section, names in (fields or {}).items():
            config[section] = {name: full[section][name] for name in names}
        config[pipeline_config.VIEW_KEY] = component
        custom_config["config"] = config
        # The Trainer alone resolves; Transform reads nothing that is left to it.
        custom_config.pop("resolve_in_trainer")
        return custom_config

    def transform_custom_config(self) -> Dict[str, Any]:
        """Only what preprocessing reads (see the module's docstring)."""
        return self.view_custom_config("Transform")

    def resolved_for_training(self, hidden_size: Optional[int], traits: Any) -> "RunContext":
        """The Trainer's context, its config fully resolved: a compiled pipeline's
        (resolve_in_trainer) is resolved here, once, with the checkpoint's size; any other must
        arrive resolved (the runner did it), and an unresolved field is an error. `traits`:
        the task's (trainer.tasks.traits)."""
        if self.resolve_in_trainer:
            # Compiled pipelines refuse scratch checkpoints: a hub id or a URI's weights.
            facts = pipeline_config.CheckpointFacts("remote", hidden_size)
            return dataclasses.replace(self, config=pipeline_config.resolve(self.config, facts, traits),
                                       resolve_in_trainer=False)
        missing = pipeline_config.unresolved(self.config)
        if missing:
            raise pipeline_config.ConfigError(
                f"the Trainer got a config with {', '.join(missing)} unset: "
                "pipeline_config.resolve must run before the pipeline is built")
        return self

    @classmethod
    def from_custom_config(cls, custom_config: Dict[str, Any]) -> "RunContext":
        return cls(
            config=pipeline_config.from_dict(custom_config["config"]),
            checkpoint_dir=custom_config["checkpoint_dir"],
            lower_case=(None if custom_config["lower_case"] is None
                        else bool(custom_config["lower_case"])),
            labels=[str(label) for label in custom_config.get("labels") or []],
            resolve_in_trainer=bool(custom_config.get("resolve_in_trainer", False)),
        )
