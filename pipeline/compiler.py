"""`electra-tfx compile`: the same pipeline definition, compiled for a cluster orchestrator.

    electra-tfx compile --target kubeflow-v2 --image IMAGE --pipeline-root gs://bucket/root \\
        --train gs://bucket/data/train.csv --out pipeline.json

TFX's KubeflowV2DagRunner turns `pipeline.pipeline.create_pipeline` into a PipelineJob JSON
that Kubeflow Pipelines v2 and Vertex AI Pipelines run. What `run` does on this machine before
building the pipeline must work without it here:

- The checkpoint is resolved on the cluster (trainer/remote_checkpoint.py): `--checkpoint` is a
  hub id or a URI of a HuggingFace-format directory. `auto` means the default hub checkpoint
  (there is no scratch fallback: a scratch checkpoint learns its vocabulary from local data;
  build one with `run --checkpoint scratch` and upload it). The config is resolved here with
  `pipeline_config.ON_CLUSTER`: the learning rate, which depends on the checkpoint's size, is
  left to the Trainer's run_fn, which resolves it once (RunContext.resolve_in_trainer).
- The label counts (the Evaluator's majority-class bar, the class ids of per-class metrics)
  are fixed in the Evaluator's config when the pipeline is built. They come from
  `--label-counts` (JSON object or file, e.g. {"neg": 4100, "pos": 3900}); without it the
  compiler scans the training data once through tf.io.gfile, which reads gs:// and the other
  TensorFlow file systems, exactly as `run` does. With them, compiling reads no data at all
  (a build server need not reach the bucket): `--train`/`--eval` go into the spec as they are
  spelled, as input_base + pattern, and are listed where the ExampleGen runs
  (components/input_files.py `unlisted_inputs`: a glob is a glob, a name ending in a
  recognised extension a file, anything else a folder).
- Paths must be readable from the cluster: local paths are allowed (a mounted volume) but
  reported, since a path on this machine is usually not on the cluster.
- ML Metadata is the orchestrator's (Kubeflow's own store), so no connection config is set.
"""
import json
import os
import sys
from typing import Dict, List, Mapping, Optional

import pipeline_config
from pipeline import data_scan
from pipeline.pipeline import create_pipeline
from trainer import checkpoint as checkpoint_lib
from trainer import remote_checkpoint, tasks
from trainer import label_order
from trainer.run_context import RunContext

TARGETS = ("kubeflow-v2",)


def cluster_checkpoint(requested: str) -> str:
    """The checkpoint reference a cluster can resolve; raises CheckpointError otherwise."""
    requested = (requested or "").strip()
    if requested.lower() == checkpoint_lib.AUTO:
        return pipeline_config.DEFAULT_HUB_CHECKPOINT
    if requested.lower() == checkpoint_lib.SCRATCH:
        raise checkpoint_lib.CheckpointError(
            "--checkpoint scratch cannot be compiled: it learns a vocabulary from local data. "
            "Build it with `electra-tfx run --checkpoint scratch`, copy its directory "
            "(<output>/checkpoints/scratch-*) to a bucket and pass that URI")
    if requested.lower() == checkpoint_lib.PACKAGED:
        raise checkpoint_lib.CheckpointError(
            "--checkpoint packaged cannot be compiled: it is converted on the machine that runs "
            "it. Run `electra-tfx run --checkpoint packaged` once, copy the directory its "
            "summary names to a bucket and pass that URI")
    if remote_checkpoint.is_uri(requested):
        return requested.rstrip("/")
    local = os.path.abspath(os.path.expanduser(requested))
    if os.path.isdir(local):
        checkpoint_lib.validate_checkpoint_dir(local)
        return local
    if checkpoint_lib._is_hub_id(requested):  # noqa: SLF001 (the same rule run applies)
        return requested
    raise checkpoint_lib.CheckpointError(
        f"--checkpoint {requested}: not a hub id, a URI (gs://...) or an existing directory")


def load_label_counts(value: str) -> Dict[str, Dict[str, int]]:
    """`--label-counts`: label -> count of the training data, or {"train": {...}, "eval":
    {...}} with the eval split's too (the gate's absolute bar), as JSON inline or in a file.
    Returns {"train": counts, "eval": counts or None}."""
    source = "--label-counts"
    text = value
    if not value.lstrip().startswith(("{", "[")):
        import tensorflow as tf
        if not tf.io.gfile.exists(value):
            raise pipeline_config.ConfigError(
                f"--label-counts {value}: no such file (pass a JSON object or a JSON file)")
        source = value
        with tf.io.gfile.GFile(value) as f:
            text = f.read()
    try:
        counts = json.loads(text)
    except json.JSONDecodeError as e:
        raise pipeline_config.ConfigError(f"{source}: invalid JSON ({e})") from None
    if isinstance(counts, dict) and set(counts) == {"train", "eval"}:
        return {split: _counts(counts[split], source, text) for split in ("train", "eval")}
    return {"train": _counts(counts, source, text), "eval": None}


def _counts(counts, source: str, text: str) -> Dict[str, int]:
    if not isinstance(counts, dict) or not counts or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts.values()):
        raise pipeline_config.ConfigError(
            f"{source}: expected a non-empty JSON object of label -> count (an integer >= 0), "
            f'e.g. {{"neg": 410, "pos": 390}}; got {text.strip()[:80]}')
    return {str(k): v for k, v in counts.items()}


def local_paths(cfg: pipeline_config.PipelineConfig, checkpoint: str) -> List[str]:
    """The paths of the compiled pipeline that only exist if the cluster mounts them."""
    named = [("--train", cfg.data.train), ("--eval", cfg.data.eval),
             ("--schema", cfg.data.schema), ("--checkpoint", checkpoint),
             ("--tfds-data-dir", cfg.data.tfds_data_dir)]
    return [f"{flag} {path}" for flag, path in named
            if path and not remote_checkpoint.is_uri(path) and not path.startswith("tfds:")
            and not (flag == "--checkpoint" and not os.path.isabs(path))]  # a hub id


def compile_pipeline(cfg: pipeline_config.PipelineConfig, *, target: str, image: str,
                     pipeline_root: str, out: str,
                     label_counts: Optional[Mapping[str, int]] = None) -> dict:
    """Compiles the pipeline to `out` (PipelineJob JSON); returns the JSON as a dict."""
    if target not in TARGETS:
        raise pipeline_config.ConfigError(
            f"--target {target}: unknown; known targets: {', '.join(TARGETS)}")
    if not image:
        raise pipeline_config.ConfigError("--image is required: the container image every "
                                          "component runs in (see the Dockerfile)")
    # Everything the run writes goes under the root: <root>/artifacts, <root>/serving/<model>.
    cfg.output = pipeline_root
    task = tasks.create(cfg)
    checkpoint = cluster_checkpoint(cfg.model.checkpoint)
    for path in local_paths(cfg, checkpoint):
        print(f"electra-tfx: note: {path} is a local path; the cluster must see it at the same "
              "path (e.g. a mounted volume), else use a URI such as gs://...", file=sys.stderr)
    eval_label_counts = None
    if isinstance(label_counts, dict) and set(label_counts) == {"train", "eval"}:
        label_counts, eval_label_counts = label_counts["train"], label_counts["eval"]
    list_inputs = label_counts is None  # the scan reads the data anyway; else read nothing
    if label_counts is None:
        scan = data_scan.scan(cfg.data.train, task.raw_text_columns(cfg),
                              task.raw_label_column(cfg), tfds_data_dir=cfg.data.tfds_data_dir,
                              eval=cfg.data.eval, eval_percent=cfg.data.eval_percent)
        label_counts, eval_label_counts = scan.label_counts, scan.eval_label_counts
    if eval_label_counts is None and task.raw_label_column(cfg):
        print("electra-tfx: note: the gate's absolute bar uses the training labels' counts; "
              'pass --label-counts \'{"train": {...}, "eval": {...}}\' for the eval split\'s',
              file=sys.stderr)
    # Everything but the learning rate, which depends on the checkpoint's size that only the
    # cluster sees: the Trainer resolves it (resolve_in_trainer).
    resolved = pipeline_config.resolve(cfg, pipeline_config.ON_CLUSTER, task.traits)
    pipeline_config.validate(resolved, task.traits)
    context = RunContext(config=resolved, checkpoint_dir=checkpoint, lower_case=None,
                         labels=label_order.label_vocabulary(resolved, label_counts, task=task),
                         resolve_in_trainer=True)
    pipeline = create_pipeline(context, label_counts, eval_label_counts=eval_label_counts,
                               list_inputs=list_inputs)

    from tfx import v1 as tfx
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(os.path.abspath(out)) if not remote_checkpoint.is_uri(out)
        else os.path.dirname(out),
        output_filename=os.path.basename(out))
    return runner.run(pipeline)


def compile_and_report(cfg: pipeline_config.PipelineConfig, args) -> int:
    """`electra-tfx compile`: user errors exit 2 with their message, as `run` does."""
    from pipeline import runner
    try:
        if not args.train:
            raise pipeline_config.ConfigError(
                "compile needs --train: data the cluster can read, e.g. gs://bucket/train.csv")
        if args.output:
            raise pipeline_config.ConfigError(
                "compile writes under --pipeline-root; --output is for `run`")
        label_counts = load_label_counts(args.label_counts) if args.label_counts else None
        spec = compile_pipeline(cfg, target=args.target, image=args.image,
                                pipeline_root=args.pipeline_root, out=args.out,
                                label_counts=label_counts)
    except Exception as exc:  # noqa: BLE001
        user_error = runner._user_error(exc)  # noqa: SLF001 (the run's own classification)
        if user_error is None:
            raise
        print(f"electra-tfx: error: {user_error}", file=sys.stderr)
        return 2
    tasks_ = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    print(f"Compiled {len(tasks_)} tasks ({', '.join(sorted(tasks_))}) for {args.target} "
          f"to {args.out}\nimage: {args.image}\npipeline root: {cfg.output_dir}")
    return 0
