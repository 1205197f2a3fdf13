"""The task registry: `electra-tfx run --task NAME` picks one of these.

A task is a `Task` subclass (trainer/tasks/base.py) decorated with `@register`; label variants
of a task (e.g. `--multi-label`, `--regression`) are their own subclasses, registered under the
same name with the `task_options` that select them (`Task.options`). `create(config or
context)` returns an instance of the class the config selects, bound to it.

No TensorFlow here: the CLI lists `task_names()` before TensorFlow loads. A task module is
imported (and its classes registered) the first time its task is asked for.
"""
import importlib
from typing import Dict, List, Optional, Sequence, Tuple, Type

from pipeline_config import ConfigError

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

# The raw columns a task reads, as fields of the config's data section: (text columns, label
# column or None). Task.raw_text_columns/raw_label_column return them; here, so that the CLI
# checks the files' headers before TensorFlow loads (pipeline/precheck.py). A task not listed
# reads DEFAULT_INPUT_COLUMNS unless its class overrides those methods.
INPUT_COLUMNS: Dict[str, Tuple[Sequence[str], Optional[str]]] = {
    "text-classification": (("text_column",), "label_column"),
    "text-pair-classification": (("text_column", "text_pair_column"), "label_column"),
    "token-classification": (("tokens_column",), "tags_column"),
    "question-answering": (("question_column", "context_column"), None),
    "embedding": (("text_column",), None),
}
DEFAULT_INPUT_COLUMNS = (("text_column",), "label_column")


def input_columns(config, task: Optional[str] = None) -> Tuple[List[str], Optional[str]]:
    """(text columns, label column or None) that `task` (default: config.task) reads."""
    texts, label = INPUT_COLUMNS.get(task or config.task, DEFAULT_INPUT_COLUMNS)
    return ([getattr(config.data, name) for name in texts],
            getattr(config.data, label) if label else None)


def register(cls: type) -> type:
    """Class decorator: registers a Task class (or a label variant of one) under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no task name")
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
