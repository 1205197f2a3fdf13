"""The task registry: `electra-tfx run --task NAME` picks one of these.

A task is a `Task` subclass (trainer/tasks/base.py) decorated with `@register`; label variants
of a task (e.g. `--multi-label`, `--regression`) are their own subclasses, registered under the
same name with the `task_options` that select them (`Task.options`). `create(config or
context)` returns an instance of the class the config selects, bound to it.

No TensorFlow here: the CLI lists `task_names()` before TensorFlow loads. A task module is
imported (and its classes registered) the first time its task is asked for.
"""
import dataclasses
import importlib
from typing import Dict, List, Optional, Tuple, Type

from pipeline_config import DEFAULT_MAX_SEQ_LENGTH, ConfigError

# The built-in tasks: name -> the module whose import registers its classes. A task defined
# elsewhere (a plug-in, a test) registers itself when its module is imported.
BUILTIN_TASKS = {
    "text-classification": "trainer.tasks.text_classification",
    "text-pair-classification": "trainer.tasks.text_pair_classification",
    "token-classification": "trainer.tasks.token_classification",
    "question-answering": "trainer.tasks.question_answering",
    "embedding": "trainer.tasks.embedding",
}

_REGISTERED: Dict[str, List[type]] = {}

# What the pipeline must know of a task before TensorFlow loads: the CLI checks the files'
# headers (pipeline/precheck.py), validates and resolves the config with it
# (pipeline_config.validate/resolve take a Traits). A built-in task's traits are the table's
# (`register` binds them to its classes); a task defined elsewhere sets `traits` on its class.
@dataclasses.dataclass(frozen=True)
class Traits:
    # The raw columns it reads, as fields of the config's data section: text columns, and the
    # label column (None: no label to count).
    text_columns: Tuple[str, ...] = ("text_column",)
    label_column: Optional[str] = "label_column"
    # --max-seq-length when not given.
    default_max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH
    # The shortest --max-seq-length that leaves room for the special tokens and one word piece
    # of each text: [CLS] x [SEP] (pairs: [CLS] a [SEP] b [SEP]).
    min_seq_length: int = 3
    # Long inputs are cut into overlapping windows (not truncated) when served.
    windowed: bool = False
    # The windows start --doc-stride tokens apart (the stride must be below the window).
    strided_windows: bool = False
    # It trains, so --tune has something to search (the Task's tuning_objective).
    tunable: bool = True
    # Its above-chance rule compares the candidate with the simple baseline's score (a gate bar
    # with versus_baseline), so the simple baseline must run (eval.simple_baseline=false is
    # refused). The contract test holds this to the Task's gate_bars.
    chance_bar_needs_baseline: bool = False


BUILTIN_TRAITS: Dict[str, Traits] = {
    "text-classification": Traits(),
    "text-pair-classification": Traits(text_columns=("text_column", "text_pair_column"),
                                       min_seq_length=5),
    "token-classification": Traits(text_columns=("tokens_column",), label_column="tags_column",
                                   windowed=True),
    "question-answering": Traits(text_columns=("question_column", "context_column"),
                                 label_column=None, default_max_seq_length=384,
                                 min_seq_length=8, windowed=True, strided_windows=True,
                                 chance_bar_needs_baseline=True),
    "embedding": Traits(label_column=None, tunable=False),
}


def traits(name: str) -> Traits:
    """The task's Traits (ConfigError for an unknown task). TensorFlow-free."""
    if name in BUILTIN_TRAITS:
        return BUILTIN_TRAITS[name]
    if name not in _REGISTERED:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return _REGISTERED[name][0].traits


def input_columns(config, task: Optional[str] = None) -> Tuple[List[str], Optional[str]]:
    """(text columns, label column or None) that `task` (default: config.task) reads."""
    found = traits(task or config.task)
    return ([getattr(config.data, name) for name in found.text_columns],
            getattr(config.data, found.label_column) if found.label_column else None)


def register(cls: type) -> type:
    """Class decorator: registers a Task class (or a label variant of one) under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no task name")
    if cls.name in BUILTIN_TRAITS:
        if "traits" in vars(cls):
            raise ValueError(f"{cls.__name__}: a built-in task's traits are BUILTIN_TRAITS'")
        cls.traits = BUILTIN_TRAITS[cls.name]
    variants = _REGISTERED.setdefault(cls.name, [])
    # Re-importing a module (e.g. importlib.reload in a test) replaces the class.
    variants[:] = [c for c in variants if c.__qualname__ != cls.__qualname__
                   or c.__module__ != cls.__module__]
    if any(dict(c.options) == dict(cls.options) for c in variants):
        raise ValueError(f"two {cls.name} classes for options {dict(cls.options)}")
    variants.append(cls)
    return cls


def unregister(name: str) -> None:
    """Removes a task registered outside BUILTIN_TASKS (tests' throw-away tasks)."""
    if name in BUILTIN_TASKS:
        raise ValueError(f"{name} is a built-in task")
    _REGISTERED.pop(name, None)


def task_names() -> List[str]:
    return sorted(set(BUILTIN_TASKS) | set(_REGISTERED))


def variants(name: str) -> List[type]:
    """Every registered class of the task `name` (importing its module if needed)."""
    if name not in _REGISTERED and name in BUILTIN_TASKS:
        importlib.import_module(BUILTIN_TASKS[name])
    if name not in _REGISTERED:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return list(_REGISTERED[name])


def all_variants() -> List[type]:
    """Every registered class of every task (the contract test runs them all)."""
    return [cls for name in task_names() for cls in variants(name)]


def _config_of(config_or_context):
    return getattr(config_or_context, "config", config_or_context)


def task_class(config_or_context) -> Type:
    """The class the config selects: its task, and the variant whose options it sets."""
    config = _config_of(config_or_context)
    candidates = variants(config.task)
    keys = sorted({key for cls in candidates for key in cls.options})
    chosen = {key: getattr(config.task_options, key) for key in keys}
    matches = [cls for cls in candidates
               if all(bool(chosen[key]) == bool(cls.options.get(key, False)) for key in keys)]
    if not matches:
        flags = " and ".join("--" + key.replace("_", "-") for key in keys if chosen[key])
        raise ConfigError(f"{flags} cannot be combined (task {config.task})")
    return matches[0]


def create(config_or_context):
    """The Task instance for a PipelineConfig or a RunContext, bound to it."""
    return task_class(config_or_context)(config_or_context)


def get_task(name: str):
    """Deprecated: the default variant of `name`, bound to a default config of that task.
    Use create(config) (which picks the variant the config selects)."""
    import pipeline_config
    config = pipeline_config.PipelineConfig()
    config.task = name
    return create(config)
