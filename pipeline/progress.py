"""A line when each pipeline component starts and one when it ends, with its time, while
LocalDagRunner runs the pipeline; a line every HEARTBEAT seconds while a component runs
without printing anything (with the time the same component took in the previous run of
this output directory, when there is one).

    [ 9/15] Transform ...
    [ 9/15] Transform ... 30 s (43 s in the last run)
    [ 9/15] Transform done in 41 s
"""
import contextlib
import threading
import time
from typing import Dict, Iterator

from trainer import console

HEARTBEAT = 30.0


def _previous_times(pipeline) -> Dict[str, float]:
    """{component: seconds} of the components that ran in the previous run, if any."""
    try:
        from pipeline.run_record import read_run
        connection = pipeline.metadata_connection_config
        if connection is None or not connection.HasField("sqlite"):
            return {}
        import os
        path = connection.sqlite.filename_uri
        if not os.path.exists(path):
            return {}
        return {c.name: c.seconds for c in read_run(path, files=False).components
                if c.state == "ran"}
    except Exception:  # noqa: BLE001 — an estimate only
        return {}


class _Heartbeat:
    """Prints "<tag> ... N s" while the component runs and nothing else printed for a while."""

    def __init__(self, tag: str, expected: float):
        self.tag, self.expected = tag, expected
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="heartbeat")
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(5.0):
            if console.seconds_since_output() < HEARTBEAT:
                continue
            elapsed = time.monotonic() - self.started
            usual = f" ({console.seconds_text(self.expected)} in the last run)" \
                if self.expected >= 1 else ""
            console.say(f"{self.tag} ... {console.seconds_text(elapsed)}{usual}")

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=10)
        return time.monotonic() - self.started


@contextlib.contextmanager
def component_lines(pipeline) -> Iterator[None]:
    """While LocalDagRunner runs `pipeline` in this block: its components' lines."""
    from tfx.orchestration.portable import launcher

    total = len(pipeline.components)
    width = len(str(total))
    previous = _previous_times(pipeline)
    original = launcher.Launcher.launch
    count = [0]

    def launch(self):
        count[0] += 1
        node = self._pipeline_node.node_info.id
        tag = f"[{count[0]:>{width}}/{total}] {node}"
        executed = []
        run_executor = self._run_executor

        def _run_executor(execution_info):
            executed.append(True)
            return run_executor(execution_info)

        self._run_executor = _run_executor
        console.say(f"{tag} ...")
        heartbeat = _Heartbeat(tag, previous.get(node, 0.0))
        try:
            result = original(self)
        except BaseException:
            console.say(f"{tag} FAILED after {console.seconds_text(heartbeat.stop())}")
            raise
        seconds = console.seconds_text(heartbeat.stop())
        if executed or self._system_node_handler:
            console.say(f"{tag} done in {seconds}")
        else:
            console.say(f"{tag} reused from an earlier run (cached), {seconds}")
        return result

    launcher.Launcher.launch = launch
    try:
        yield
    finally:
        launcher.Launcher.launch = original
