"""The task registry: `electra-tfx run --task NAME` picks one of these."""
from pipeline_config import ConfigError
from trainer.tasks.base import Task
from trainer.tasks.text_classification import TextClassificationTask

_TASKS = {task.name: task for task in (TextClassificationTask(),)}
from trainer.tasks.question_answering import QuestionAnsweringTask  # noqa: E402
_TASKS[QuestionAnsweringTask.name] = QuestionAnsweringTask()
from trainer.tasks.token_classification import TokenClassificationTask  # noqa: E402
_TASKS[TokenClassificationTask.name] = TokenClassificationTask()
from trainer.tasks.text_pair_classification import TextPairClassificationTask  # noqa: E402
_TASKS[TextPairClassificationTask.name] = TextPairClassificationTask()
from trainer.tasks.embedding import EmbeddingTask  # noqa: E402
_TASKS[EmbeddingTask.name] = EmbeddingTask()


def get_task(name: str) -> Task:
    try:
        return _TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_TASKS))}") from None


def task_names():
    return sorted(_TASKS)
