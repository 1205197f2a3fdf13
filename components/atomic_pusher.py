"""TFX's Pusher, but a version appears in the serving directory whole or not at all.

TFX's Pusher executor copies the model file by file straight into `<base>/<version>/` (with
saved_model.pb last). TF Serving polls the base directory and picks up every numeric folder, so
a push killed mid-copy leaves a half-written version that a server may try to load, and the
next push never repairs it. Here the copy goes to a hidden `<base>/.tmp-<version>-<pid>/`
beside it and is renamed to `<base>/<version>/` in one `rename(2)` (components/atomic_copy.py);
leftovers of killed pushes are removed by the next push. A URI base (gs://, s3://, ...: object
stores have no directory rename) gets every file but saved_model.pb first and it last.

Everything else (the blessing check, the PushedModel artifact with its `pushed`,
`pushed_destination` and `pushed_version` properties, the archive copy) is TFX's own.

Before anything is copied, a blessed model must pass the TF Serving compatibility check
(components/serving_compat.py): a model that uses an op the target TF Serving does not have is
not pushed (`pushed` 0) and the PushedModel's `not_pushed_reason` names the op. The pushed copy
carries `assets.extra/tf_serving_warmup_requests` (components/serving_warmup.py) built from
the optional `examples` input's eval split, replayed against the model first (TF Serving
refuses a version whose warm-up request fails, so such a model is not pushed either): the model
is copied into the PushedModel artifact first (TFX's archive copy), the warm-up file is added
there, and that copy is published.
`custom_config`: {"serve_text_inputs": {serve_text input: example column},
"serving_target": TF Serving version, default serving_compat.DEFAULT_TARGET}.
"""
import json
import os
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, channel, component_spec, standard_artifacts
from tfx.types import standard_component_specs
from tfx.utils import io_utils, json_utils, proto_utils

from components import serving_compat, serving_warmup
from components.atomic_copy import push_atomically

EXAMPLES_KEY = "examples"
NOT_PUSHED_REASON = "not_pushed_reason"


class AtomicPusherExecutor(pusher_executor.Executor):
    """TFX's Pusher executor with the filesystem copy made atomic (see the module docstring)."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("AtomicPusher pushes to a filesystem destination only")
        config = json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
                            or "null") or {}
        compatibility = serving_compat.check_saved_model(
            model_path, config.get("serving_target", serving_compat.DEFAULT_TARGET))
        if not compatibility.ok:
            reason = compatibility.describe()
            logging.error("Model not pushed: %s.", reason)
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property(NOT_PUSHED_REASON, reason)
            return
        logging.info("TF Serving check: %s.", compatibility.describe())
        try:
            warmup_logs = _warmup_logs(model_path, input_dict.get(EXAMPLES_KEY),
                                       config.get("serve_text_inputs"))
        except serving_warmup.WarmupFailed as failed:
            # TF Serving refuses a version whose warm-up request fails: not pushed either.
            logging.error("Model not pushed: %s.", failed)
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property(NOT_PUSHED_REASON, str(failed))
            return
        # As TFX's Pusher: the pushed model is also archived in the PushedModel artifact. That
        # copy gets the warm-up requests and is the one published.
        io_utils.copy_dir(model_path, model_push.uri)
        warmup = serving_warmup.write_warmup(model_push.uri, warmup_logs)
        if warmup:
            logging.info("TF Serving warm-up requests written to %s (replayed: they run).",
                         warmup)
        serving_path = push_atomically(model_push.uri, destination.filesystem.base_directory)
        logging.info("Model written to serving path %s.", serving_path)
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=os.path.basename(serving_path))


def _warmup_logs(model_dir: str, examples: Optional[List[types.Artifact]],
                 text_inputs: Optional[Dict[str, str]]) -> list:
    """The warm-up requests from the eval examples, replayed against the model (raises
    serving_warmup.WarmupFailed); none without examples."""
    if not examples:
        return []
    records = serving_warmup.eval_records(examples[0].uri)
    logs = serving_warmup.warmup_logs(model_dir, records, text_inputs)
    serving_warmup.check_replay(model_dir, logs)
    return logs


class AtomicPusherSpec(standard_component_specs.PusherSpec):
    """TFX's PusherSpec plus the optional `examples` (ExampleGen's) for the warm-up requests."""

    INPUTS = {**standard_component_specs.PusherSpec.INPUTS,
              EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples,
                                                            optional=True)}


class AtomicPusher(pusher_component.Pusher):
    """`tfx.components.Pusher` (same inputs, outputs and parameters) with atomic pushes, the TF
    Serving compatibility check and, given `examples`, the warm-up requests."""

    SPEC_CLASS = AtomicPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel,
                 push_destination: pusher_pb2.PushDestination,
                 examples: Optional[types.BaseChannel] = None,
                 custom_config: Optional[Dict[str, Any]] = None):
        spec = AtomicPusherSpec(
            model=model, model_blessing=model_blessing, examples=examples,
            push_destination=push_destination, custom_config=json_utils.dumps(custom_config),
            pushed_model=channel.Channel(type=standard_artifacts.PushedModel))
        base_component.BaseComponent.__init__(self, spec=spec)
