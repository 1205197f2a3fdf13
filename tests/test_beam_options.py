"""Beam runner options: presets, the user's --beam-arg, and a multi-process DirectRunner
running the project's TF Text preprocessing (every worker process must register TF Text ops)."""
import tempfile

import pytest

import pipeline_config
from pipeline import beam_options, cli

DEFAULT = pipeline_config.PipelineConfig().beam_args


def _config(*argv):
    parser = cli.argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli._add_run_parser(sub)
    return cli.config_from_args(parser.parse_args(
        beam_options.join_option_values(["run", *argv], "--beam-arg")))


def test_without_flags_the_default_in_memory_runner_stays():
    assert _config().beam_args == DEFAULT


def test_a_preset_expands_and_user_args_win():
    args = _config("--beam-preset", "dataflow", "--beam-arg", "--project=p",
                   "--beam-arg=--experiments=upload_graph").beam_args
    assert args == ["--runner=DataflowRunner", "--project=p", "--experiments=upload_graph"]
    args = _config("--beam-preset", "direct-multiprocess",
                   "--beam-arg", "--direct_num_workers=2").beam_args
    assert args == ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                    "--direct_num_workers=2"]
    # Without a preset, --beam-arg edits the configured options.
    assert _config("--beam-arg", "--direct_num_workers=4").beam_args == [
        "--direct_running_mode=in_memory", "--direct_num_workers=4"]


@pytest.mark.parametrize("preset", sorted(beam_options.PRESETS))
def test_every_preset_names_its_runner(preset):
    (runner,) = [a for a in beam_options.PRESETS[preset] if a.startswith("--runner=")]
    assert runner.split("=")[1].lower().startswith(preset.split("-")[0])


def test_a_bad_beam_arg_is_a_config_error():
    with pytest.raises(pipeline_config.ConfigError, match="--beam-arg 'project=p'"):
        _config("--beam-arg", "project=p")


@pytest.mark.slow  # starts two worker processes that each import TensorFlow (~1 min on 2 cores)
def test_tf_text_preprocessing_runs_in_a_multi_process_direct_runner(tmp_path):
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform.beam as tft_beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from tests import fixtures
    from trainer.checkpoint import build_scratch_checkpoint
    from trainer.preprocessing import preprocessing_fn
    from trainer.run_context import RunContext

    rows = fixtures.sentiment_rows(12)
    model = pipeline_config.ModelConfig(scratch_vocab_size=120, scratch_hidden_size=16,
                                        scratch_num_layers=1, scratch_num_heads=2,
                                        scratch_intermediate_size=32)
    checkpoint = build_scratch_checkpoint([t for t, _ in rows], str(tmp_path / "ckpt"), model)
    cfg = pipeline_config.PipelineConfig()
    cfg.model.max_seq_length = 16
    custom_config = RunContext(config=cfg, checkpoint_dir=checkpoint,
                               lower_case=True).to_custom_config()
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(
        {"text": tf.io.FixedLenFeature([], tf.string),
         "label": tf.io.FixedLenFeature([], tf.string)}))
    options = PipelineOptions(beam_options.beam_args(
        DEFAULT, "direct-multiprocess", ["--direct_num_workers=2"]))
    out = str(tmp_path / "transformed")
    with beam.Pipeline(options=options) as pipeline:
        with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=tmp_path), force_tf_compat_v1=False):
            raw = pipeline | beam.Create([{"text": t, "label": y} for t, y in rows])
            (transformed, _), _ = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(
                lambda inputs: preprocessing_fn(inputs, custom_config))
            _ = (transformed
                 | beam.Map(lambda r: f"{list(r['input_ids'])}\t{int(r['label_id'])}")
                 | beam.io.WriteToText(out, shard_name_template=""))
    lines = open(out).read().splitlines()
    assert len(lines) == len(rows)
    # [CLS] ... [SEP] from the WordPiece vocabulary, in the worker processes.
    ids = [eval(line.split("\t")[0]) for line in lines]  # noqa: S307 (our own output)
    assert all(i[0] == 2 and i[-1] == 3 and len(i) > 3 for i in ids), ids[:3]
    assert sorted({line.split("\t")[1] for line in lines}) == ["0", "1"]


def test_the_in_memory_runner_takes_the_state_cache_size_from_the_options():
    size = beam_options.in_memory_state_cache_mb
    assert size(pipeline_config.PipelineConfig().beam_args) == 0
    assert size(["--direct_running_mode=in_memory", "--max_cache_memory_usage_mb=64"]) == 64
    assert size(["--runner=DirectRunner"]) == 0
    # Other runners and modes read the option themselves.
    for preset in beam_options.PRESETS.values():
        assert size(preset) is None
    assert size(["--runner=DataflowRunner", "--max_cache_memory_usage_mb=0"]) is None
    assert size(["--runner", "DataflowRunner"]) is None  # the runner read as Beam reads it


def test_a_local_run_reads_side_inputs_without_sizing_them_for_a_cache(monkeypatch):
    """Beam's state cache sizes every side input it caches by walking every loaded module
    (apache_beam statecache.get_deep_size); a local run turns the cache off."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.runners.worker import statecache
    from apache_beam.testing.util import assert_that, equal_to

    sized = []
    real = statecache.get_deep_size
    monkeypatch.setattr(statecache, "get_deep_size", lambda *o: sized.append(1) or real(*o))
    monkeypatch.setattr(worker_handlers, "STATE_CACHE_SIZE_MB", worker_handlers.STATE_CACHE_SIZE_MB)

    def run(args):
        beam_options.apply_in_memory_state_cache(args)
        with beam.Pipeline(argv=args) as p:
            side = p | "side" >> beam.Create([10])
            out = (p | beam.Create([1, 2, 3])
                   | beam.Map(lambda x, s: x + s, s=beam.pvalue.AsSingleton(side)))
            assert_that(out, equal_to([11, 12, 13]))

    run(["--direct_running_mode=in_memory", "--max_cache_memory_usage_mb=100"])
    assert sized, "the side input was not cached: the check below would prove nothing"
    sized.clear()
    run(pipeline_config.PipelineConfig().beam_args)
    assert not sized


@pytest.fixture
def uncached_signatures(monkeypatch):
    """Beam's own get_signature for the test (an earlier local run in this process may have
    cached it), put back as it was afterwards; returns it."""
    from apache_beam.transforms import core
    from apache_beam.typehints import decorators

    plain = getattr(core.get_signature, "original", core.get_signature)
    monkeypatch.setattr(decorators, "get_signature", plain)
    monkeypatch.setattr(core, "get_signature", plain)
    return plain


def test_dofn_method_signatures_are_computed_once_per_function_and_unchanged(
        monkeypatch, uncached_signatures):
    """Beam inspects every method of every DoFn each time a stage starts; with the cache, a
    method's signature is computed once for all instances, and is the same as Beam's own."""
    import inspect

    import apache_beam as beam
    from apache_beam.transforms import core

    plain = uncached_signatures

    class Base(beam.DoFn):
        def process(self, element, scale=2, side=beam.DoFn.SideInputParam):
            yield element * scale

    class Child(Base):
        def process(self, element, offset=1):
            yield element + offset

    expected = {cls: core.get_function_args_defaults(cls().process) for cls in (Base, Child)}
    assert beam_options.cache_method_signatures()
    assert core.get_signature is not plain and beam_options.cache_method_signatures()
    counted = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda f, *a, **k: counted.append(f) or real(f, *a, **k))
    for cls in (Base, Child, Base, Child):
        assert core.get_function_args_defaults(cls().process) == expected[cls]
    assert len(counted) == 2, "each function's signature is computed once"
    # Not bound methods: not cached, answered as before.
    assert core.get_function_args_defaults(lambda x, y=3: x) == (["x", "y"], [3])
    assert len(counted) == 3


def test_a_stateful_dofn_keeps_its_state_with_signatures_cached(uncached_signatures):
    """State and timer parameters are found through the cached signatures."""
    import apache_beam as beam
    from apache_beam.coders import VarIntCoder
    from apache_beam.testing.util import assert_that, equal_to
    from apache_beam.transforms import userstate

    assert beam_options.cache_method_signatures()

    class CountSoFar(beam.DoFn):
        SEEN = userstate.BagStateSpec("seen", VarIntCoder())

        def process(self, element, seen=beam.DoFn.StateParam(SEEN)):
            seen.add(element[1])
            yield element[0], len(list(seen.read()))

    assert userstate.is_stateful_dofn(CountSoFar())
    for _ in range(2):  # the second pipeline starts its stages with cached signatures
        with beam.Pipeline(argv=pipeline_config.PipelineConfig().beam_args) as p:
            out = p | beam.Create([("a", 5), ("a", 6), ("b", 7)]) | beam.ParDo(CountSoFar())
            assert_that(out, equal_to([("a", 1), ("a", 2), ("b", 1)]))


@pytest.fixture
def uncached_views(monkeypatch):
    """Beam's own PipelineOptions.view_as for the test, put back as it was afterwards."""
    from apache_beam.options.pipeline_options import PipelineOptions

    plain = getattr(PipelineOptions.view_as, "original", PipelineOptions.view_as)
    monkeypatch.setattr(PipelineOptions, "view_as", plain)
    return plain


def test_option_views_are_parsed_once_and_still_share_their_values(monkeypatch, uncached_views):
    """view_as parses the flags once per (options, view class); what one view sets, every
    view and the options themselves read, as with Beam's own views."""
    from apache_beam.options import pipeline_options as po

    parsed = []
    real_init = po.PipelineOptions.__init__
    monkeypatch.setattr(po.PipelineOptions, "__init__",
                        lambda self, *a, **k: parsed.append(type(self)) or real_init(self, *a, **k))
    assert beam_options.cache_option_views() and beam_options.cache_option_views()
    options = po.PipelineOptions(["--direct_num_workers=3", "--no_pipeline_type_check"])
    parsed.clear()
    for _ in range(3):
        assert options.view_as(po.DirectOptions).direct_num_workers == 3
        assert options.view_as(po.TypeOptions).pipeline_type_check is False
    assert parsed == [po.DirectOptions, po.TypeOptions], "each view is parsed once"
    options.view_as(po.DirectOptions).direct_num_workers = 5
    assert options.view_as(po.DirectOptions).direct_num_workers == 5
    assert options.get_all_options()["direct_num_workers"] == 5
    other = po.PipelineOptions([])
    assert other.view_as(po.DirectOptions).direct_num_workers == 1, "per options object"
    assert other.view_as(po.DirectOptions) is not options.view_as(po.DirectOptions)


def test_a_local_run_applies_its_beam_settings(monkeypatch, uncached_signatures,
                                                uncached_views, tfx_dependency_flags):
    import contextlib
    import types as pytypes

    from tfx.utils import dependency_utils

    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.transforms import core

    from pipeline import runner

    from apache_beam.options.pipeline_options import PipelineOptions

    monkeypatch.setattr(worker_handlers, "STATE_CACHE_SIZE_MB", 100)
    seen = {}

    class FakeRunner:
        def run(self, pipeline):
            seen["cache_mb"] = worker_handlers.STATE_CACHE_SIZE_MB
            seen["signatures"] = getattr(core.get_signature, "cached_per_function", False)
            seen["views"] = getattr(PipelineOptions.view_as, "cached_per_options", False)
            seen["sdist"] = getattr(dependency_utils.make_beam_dependency_flags,
                                    "skips_local_runs", False)

    monkeypatch.setattr(runner.tfx.orchestration, "LocalDagRunner", FakeRunner)
    monkeypatch.setattr(runner.progress, "component_lines", lambda p: contextlib.nullcontext())
    runner.run_locally(pytypes.SimpleNamespace(beam_pipeline_args=DEFAULT))
    assert seen == {"cache_mb": 0, "signatures": True, "views": True, "sdist": True}


@pytest.mark.parametrize("args, local", [
    (DEFAULT, True),
    ([], True),
    (beam_options.PRESETS["direct-multiprocess"], True),
    (["--runner=direct"], True),
    (beam_options.PRESETS["dataflow"], False),
    (beam_options.PRESETS["flink"], False),
    (["--runner", "DataflowRunner"], False),
])
def test_runs_locally_reads_the_runner_as_beam_parses_it(args, local):
    assert beam_options.runs_locally(args) is local


@pytest.fixture
def tfx_dependency_flags(monkeypatch):
    """TFX's own make_beam_dependency_flags for the test, with the sdist build recorded
    instead of run; both put back afterwards."""
    from tfx.utils import dependency_utils

    plain = dependency_utils.make_beam_dependency_flags
    plain = getattr(plain, "original", plain)
    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags", plain)
    built = []
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package",
                        lambda: built.append(1) or "/sdist/tfx_ephemeral-1.16.0.tar.gz")
    return built


def _beam_executor_args(args):
    """The Beam args a TFX Beam executor (StatisticsGen's) ends up with when built with
    `args`."""
    from tfx.components.statistics_gen import executor

    context = executor.Executor.Context(beam_pipeline_args=list(args))
    return executor.Executor(context)._beam_pipeline_args


def test_tfx_executors_skip_repackaging_tfx_for_local_runs_only(tfx_dependency_flags):
    """TFX builds (and leaves in /tmp) an sdist of itself for every Beam executor; a local
    runner stages nothing, so with the patch only remote runners get it."""
    built = tfx_dependency_flags
    assert "--extra_package=/sdist/tfx_ephemeral-1.16.0.tar.gz" in _beam_executor_args(DEFAULT)
    assert len(built) == 1, "TFX's own behaviour, which the patch changes"
    assert beam_options.skip_tfx_sdist_for_local_runs()
    assert beam_options.skip_tfx_sdist_for_local_runs()
    for args in (DEFAULT, beam_options.PRESETS["direct-multiprocess"]):
        out = _beam_executor_args(args)
        assert out[:len(args)] == list(args)
        assert not any(a.startswith("--extra_package") for a in out)
    assert len(built) == 1, "no sdist for a local runner"
    remote = beam_options.PRESETS["dataflow"]
    assert "--extra_package=/sdist/tfx_ephemeral-1.16.0.tar.gz" in _beam_executor_args(remote)
    assert len(built) == 2, "a remote runner still gets TFX's package"
