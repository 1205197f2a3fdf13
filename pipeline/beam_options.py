"""Beam runner options as configuration: presets plus the user's own `--beam-arg`s.

The result becomes the pipeline's `beam_pipeline_args`, which TFX hands to every Beam-powered
component (ExampleGen, StatisticsGen, SchemaGen, ExampleValidator, Transform, Evaluator, ...).

    --beam-preset dataflow --beam-arg=--project=P --beam-arg=--region=europe-west4 \\
        --beam-arg=--temp_location=gs://bucket/tmp

A preset replaces the default options (in-memory DirectRunner); `--beam-arg`s are applied
after it, and one that names the same flag as the preset replaces the preset's value.
What a runner needs beyond its preset (project, region, master address, container image)
is the user's to add: see README, "Running at scale".
"""
import types
import weakref
from typing import Dict, List, Optional, Sequence

import pipeline_config

PRESETS: Dict[str, List[str]] = {
    # Every core, each worker a separate process (0 = as many workers as cores).
    "direct-multiprocess": ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                            "--direct_num_workers=0"],
    # Runner v2 is what runs custom SDK containers (--sdk_container_image).
    "dataflow": ["--runner=DataflowRunner", "--experiments=use_runner_v2"],
    # Portable runners: the job is submitted as one jar to --flink_master / --spark_rest_url.
    "flink": ["--runner=FlinkRunner", "--flink_submit_uber_jar"],
    "spark": ["--runner=SparkRunner", "--spark_submit_uber_jar"],
}


def flag_name(arg: str) -> str:
    return arg.split("=", 1)[0]


def beam_args(base: Sequence[str], preset: Optional[str] = None,
              extra: Sequence[str] = ()) -> List[str]:
    """`base` (the config's beam_args), replaced by `preset`'s, with `extra` applied on top."""
    if preset is not None and preset not in PRESETS:
        raise pipeline_config.ConfigError(
            f"--beam-preset {preset}: unknown; known presets: {', '.join(PRESETS)}")
    for arg in extra:
        if not arg.startswith("--") or arg == "--":
            raise pipeline_config.ConfigError(
                f"--beam-arg {arg!r}: expected a Beam pipeline option such as "
                "--direct_num_workers=2 (such as --beam-arg --name=value)")
    args = list(PRESETS[preset] if preset else base)
    for arg in extra:
        args = [a for a in args if flag_name(a) != flag_name(arg)] + [arg]
    return args


def join_option_values(argv: Sequence[str], option: str) -> List[str]:
    """`--beam-arg --name=value` as `--beam-arg=--name=value`: argparse would otherwise take
    the value, which starts with "--", for an option of its own."""
    joined, i = [], 0
    while i < len(argv):
        if argv[i] == option and i + 1 < len(argv):
            joined.append(f"{option}={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    return joined


def _option(args: Sequence[str], name: str) -> Optional[str]:
    """The value of the last `--name=value` in `args` (None when absent)."""
    values = [a.split("=", 1)[1] for a in args if "=" in a and flag_name(a) == name]
    return values[-1] if values else None


def in_memory_state_cache_mb(args: Sequence[str]) -> Optional[int]:
    """The state cache size for Beam's in-memory DirectRunner (None: another runner or mode,
    which read `--max_cache_memory_usage_mb` themselves).

    Beam's cache of side inputs measures every value it caches with objsize, which walks the
    globals of every loaded module (thousands, with TensorFlow and TFX): about 3 s of each
    Transform of a small run here (2026-12-05, tiny e2e run, 2 interleaved pairs: 21.1/19.1 s
    vs 17.3/16.2 s), for side inputs that are read once. Beam documents
    `--max_cache_memory_usage_mb=0` to turn the cache off (apache/beam#30360), but the
    in-memory worker ignores it and always uses 100 MB; so a local run takes the option's
    value, 0 unless given."""
    if runner_name(args) not in (None, "DirectRunner", "direct"):
        return None
    if (_option(args, "--direct_running_mode") or "in_memory") != "in_memory":
        return None
    return int(_option(args, "--max_cache_memory_usage_mb") or 0)


def apply_in_memory_state_cache(args: Sequence[str]) -> None:
    """Sets the in-memory runner's state cache size from `args` (see in_memory_state_cache_mb);
    Beam reads it when a pipeline starts its in-process worker."""
    size = in_memory_state_cache_mb(args)
    if size is not None:
        # Written by hand: no Beam option reaches this module constant.
        from apache_beam.runners.portability.fn_api_runner import worker_handlers
        worker_handlers.STATE_CACHE_SIZE_MB = size


# Written by hand: Beam has no switch for this. Each time a pipeline starts a stage, Beam's
# bundle processor looks for state and timer parameters in every method of every DoFn
# (apache_beam.transforms.userstate.get_dofn_specs, ~40 methods per DoFn, hundreds of DoFns
# in a Transform or Evaluator) through inspect.signature, which it never caches: ~10 s of a
# 30-row local run (2026-12-05, py-spy). A bound method's signature is its function's minus
# `self`, the same for every instance, so it is computed once per function here (as Fiddle's
# signatures module does; weak keys, so functions that go away are dropped).
_METHOD_SIGNATURES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cache_method_signatures() -> bool:
    """Makes Beam compute each DoFn method's signature once per process (see above); False
    when this Beam version has no `get_signature` to wrap (then nothing changes). Idempotent."""
    from apache_beam.transforms import core
    from apache_beam.typehints import decorators

    original = getattr(decorators, "get_signature", None)
    if getattr(original, "cached_per_function", False):
        return True
    if original is None or getattr(core, "get_signature", None) is not original:
        return False

    def get_signature(func):
        if isinstance(func, types.MethodType) and isinstance(func.__func__, types.FunctionType):
            signature = _METHOD_SIGNATURES.get(func.__func__)
            if signature is None:
                signature = _METHOD_SIGNATURES[func.__func__] = original(func)
            return signature
        return original(func)

    get_signature.cached_per_function, get_signature.original = True, original
    decorators.get_signature = core.get_signature = get_signature
    return True


# Written by hand as well: PipelineOptions.view_as builds and runs an argparse parser on every
# call, and Beam calls it from its type checks for every transform it applies (thousands of
# times per component: ~3 s of a tiny local run, 2026-12-05, py-spy). A view is parsed from
# the same flags each time and reads and writes the options it came from (they share one
# dict), so one view per (options, class) is what every call would give.
_OPTION_VIEWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cache_option_views() -> bool:
    """Makes PipelineOptions.view_as build each view once per options object (see above);
    False when this Beam version has no view_as to wrap. Idempotent."""
    from apache_beam.options.pipeline_options import PipelineOptions

    original = PipelineOptions.__dict__.get("view_as")
    if getattr(original, "cached_per_options", False):
        return True
    if original is None:
        return False

    def view_as(self, cls):
        views = _OPTION_VIEWS.get(self)
        if views is None:
            views = _OPTION_VIEWS[self] = {}
        view = views.get(cls)
        if view is None:
            view = views[cls] = original(self, cls)
        return view

    view_as.__doc__, view_as.cached_per_options, view_as.original = (
        original.__doc__, True, original)
    PipelineOptions.view_as = view_as
    return True


# Beam's runners that run every worker in this machine's Python environment: nothing is
# staged for them.
LOCAL_RUNNERS = ("DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner",
                 "FnApiRunner", "InteractiveRunner")


def runner_name(args: Sequence[str]) -> Optional[str]:
    """The runner Beam `args` name, as Beam parses them (`--runner=X` or `--runner X`); None
    when none is named (Beam then uses the DirectRunner)."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(flags=list(args)).view_as(StandardOptions).runner
    return runner if isinstance(runner, str) else type(runner).__name__ if runner else None


def runs_locally(args: Sequence[str]) -> bool:
    """Whether Beam `args` run on a local runner (the DirectRunner when none is named)."""
    name = runner_name(args)
    return name is None or name.lower() == "direct" or name in LOCAL_RUNNERS


# Written by hand: TFX has no switch for this. Every Beam-powered TFX executor given any
# beam_pipeline_args calls tfx.utils.dependency_utils.make_beam_dependency_flags, which, unless
# the args already name a package, requirements or container, copies TFX's installed source to
# a new temporary folder and builds an sdist of it (a `setup.py sdist` subprocess) for remote
# workers, and never deletes the folder: ~1.4 s and 42 MB of /tmp per component run, 5,373
# folders and 63 GB after a day of test runs here (2026-12-05), which filled the disk. A local
# runner stages nothing, so its args pass unchanged; other runners keep TFX's behaviour.
def skip_tfx_sdist_for_local_runs() -> bool:
    """Makes TFX's Beam executors skip repackaging TFX when their args run locally (see
    above); False when this TFX version has no make_beam_dependency_flags. Idempotent."""
    from tfx.utils import dependency_utils

    original = getattr(dependency_utils, "make_beam_dependency_flags", None)
    if getattr(original, "skips_local_runs", False):
        return True
    if original is None:
        return False

    def make_beam_dependency_flags(beam_pipeline_args):
        if runs_locally(beam_pipeline_args):
            return list(beam_pipeline_args)
        return original(beam_pipeline_args)

    make_beam_dependency_flags.__doc__ = original.__doc__
    make_beam_dependency_flags.skips_local_runs = True
    make_beam_dependency_flags.original = original
    dependency_utils.make_beam_dependency_flags = make_beam_dependency_flags
    return True
