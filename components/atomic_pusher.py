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
"""
import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.atomic_copy import push_atomically


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
        serving_path = push_atomically(model_path, destination.filesystem.base_directory)
        logging.info("Model written to serving path %s.", serving_path)
        # As TFX's Pusher: the pushed model is also archived in the PushedModel artifact.
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=os.path.basename(serving_path))


class AtomicPusher(pusher_component.Pusher):
    """`tfx.components.Pusher` (same inputs, outputs and parameters) with atomic pushes."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)
