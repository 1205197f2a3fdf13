"""components/loaded_models.py: the Pusher and the report share one load of the candidate."""
import os

import tensorflow as tf

from components import loaded_models


def _save(path, value: float) -> str:
    module = tf.Module()
    module.value = tf.Variable(value)
    module.get = tf.function(lambda: module.value, input_signature=[])
    tf.saved_model.save(module, str(path))
    return str(path)


def test_the_same_folder_is_loaded_once_and_a_rewritten_one_again(tmp_path):
    first, second = _save(tmp_path / "a", 1.0), _save(tmp_path / "b", 2.0)
    model = loaded_models.load(first)
    assert loaded_models.load(first + "/") is model and float(model.get()) == 1.0
    assert float(loaded_models.load(second).get()) == 2.0
    assert loaded_models.load(first) is not model  # one model kept: the last asked for
    again = loaded_models.load(first)
    _save(tmp_path / "a", 3.0)  # written again (a new modification time): loaded again
    stat = os.stat(tmp_path / "a" / "saved_model.pb")
    os.utime(tmp_path / "a" / "saved_model.pb", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    reloaded = loaded_models.load(first)
    assert reloaded is not again and float(reloaded.get()) == 3.0
    loaded_models.forget()
    assert loaded_models.load(first) is not reloaded
    loaded_models.forget()
