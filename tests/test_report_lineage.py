"""Lineage through ML Metadata events, on an in-memory store shaped like two pipeline runs
where the second reused the first's Trainer output from the cache."""
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from pipeline.report import lineage

COMPLETE, CACHED = mlmd.Execution.COMPLETE, mlmd.Execution.CACHED


class FakeRuns:
    def __init__(self):
        config = mlmd.ConnectionConfig()
        config.fake_database.SetInParent()
        self.store = metadata_store.MetadataStore(config)
        self.types = {}

    def _type(self, put, proto_type, name):
        if (proto_type, name) not in self.types:
            self.types[(proto_type, name)] = put(proto_type(name=name))
        return self.types[(proto_type, name)]

    def artifact(self, kind, uri, **props):
        a = mlmd.Artifact(type_id=self._type(self.store.put_artifact_type, mlmd.ArtifactType, kind),
                          uri=uri)
        for k, v in props.items():
            a.custom_properties[k].string_value = v
        return a

    def execute(self, run, node, state, inputs=(), outputs=(), **props):
        """inputs/outputs: (artifact, [keys]); returns the outputs with their ids set."""
        execution = mlmd.Execution(
            type_id=self._type(self.store.put_execution_type, mlmd.ExecutionType, node),
            last_known_state=state)
        for k, v in props.items():
            execution.custom_properties[k].string_value = v
        pairs = []
        for kind, items in ((mlmd.Event.INPUT, inputs), (mlmd.Event.OUTPUT, outputs)):
            for artifact, keys in items:
                event = mlmd.Event(type=kind)
                for key in keys:
                    event.path.steps.add().key = key
                    event.path.steps.add().index = 0
                pairs.append((artifact, event))
        contexts = [self._context("pipeline_run", run), self._context("node", f"p.{node}")]
        _, ids, _ = self.store.put_execution(execution, pairs, contexts)
        for (artifact, _), artifact_id in zip(pairs, ids):
            artifact.id = artifact_id
        return [a for a, _ in outputs]

    def _context(self, kind, name):
        type_id = self._type(self.store.put_context_type, mlmd.ContextType, kind)
        found = self.store.get_context_by_type_and_name(kind, name)
        return found or mlmd.Context(type_id=type_id, name=name)


def two_runs():
    runs = FakeRuns()
    (examples,) = runs.execute("run1", "TextExampleGen", COMPLETE, input_base="/data",
                               outputs=[(runs.artifact("Examples", "/a/examples/1",
                                                       input_fingerprint="files:1"), ["examples"])])
    (transformed,) = runs.execute("run1", "Transform", COMPLETE, inputs=[(examples, ["examples"])],
                                  outputs=[(runs.artifact("Examples", "/a/transformed/2"),
                                            ["transformed_examples"])])
    custom_config = '{"config": {"model": {"checkpoint": "google/x"}}, "checkpoint_dir": "/ckpt"}'
    (model,) = runs.execute("run1", "Trainer", COMPLETE, custom_config=custom_config,
                            inputs=[(transformed, ["examples"])],
                            outputs=[(runs.artifact("Model", "/a/model/3"), ["model"])])
    # Run 2: the Trainer is a cache hit (same output artifact); the Evaluator gets that model
    # both as the candidate and, now blessed, as the baseline: one event with two keys.
    runs.execute("run2", "Trainer", CACHED, custom_config=custom_config,
                 inputs=[(transformed, ["examples"])], outputs=[(model, ["model"])])
    runs.execute("run2", "Evaluator", COMPLETE, inputs=[(model, ["model", "baseline_model"])])
    (pushed,) = runs.execute("run2", "Pusher", COMPLETE, inputs=[(model, ["model"])],
                             outputs=[(runs.artifact("PushedModel", "/a/pushed/9",
                                                     pushed_destination="/serving/m/17"),
                                       ["pushed_model"])])
    return runs.store, model, pushed


def test_one_artifact_under_two_input_keys_is_found_under_both():
    store, model, _ = two_runs()
    evaluator = [e for e in store.get_executions() if lineage.node_name(store, e.id) == "Evaluator"]
    inputs = lineage.inputs_by_key(store, evaluator[0].id)
    assert [a.id for a in inputs["model"]] == [a.id for a in inputs["baseline_model"]] == [model.id]


def test_lineage_goes_from_the_pushed_model_to_the_data_and_checkpoint():
    store, model, pushed = two_runs()
    steps = lineage.trace(store, pushed.id)
    assert [(s.artifact_type, s.producer, s.run_id) for s in steps] == [
        ("PushedModel", "Pusher", "run2"),
        ("Model", "Trainer", "run1"),  # the run that computed it, not the cache hit
        ("Examples", "Transform", "run1"),
        ("Examples", "TextExampleGen", "run1"),
    ]
    assert steps[0].details["pushed destination"] == "/serving/m/17"
    assert steps[1].details == {"checkpoint": "google/x", "checkpoint dir": "/ckpt"}
    assert steps[3].details["input files"] == "/data"
    assert steps[3].details["input fingerprint"] == "files:1"
    text = lineage.format_lineage(steps)
    assert text.index("PushedModel") < text.index("← Model") < text.index("produced by TextExampleGen")
