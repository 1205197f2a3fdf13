"""The task registry: `electra-tfx run --task NAME` picks one of these."""
from pipeline_config import ConfigError
from trainer.tasks.base import Task
from trainer.tasks.text_classification import TextClassificationTask

_TASKS = {task.name: task for task in (TextClassificationTask(),)}


def get_task(name: str) -> Task:
    try:
        return _TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_TASKS))}") from None


def task_names():
    return sorted(_TASKS)
