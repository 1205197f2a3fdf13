"""What a run prints on the console.

By default (quiet): the CLI's own lines, one line when each pipeline component starts and
ends, progress lines with an ETA for pre-training and training, and the summary; the
third-party output that means nothing to a user (NOISE) is dropped. With `-v`: everything,
as the libraries print it.

TensorFlow-free: the CLI imports it before TensorFlow loads; the pipeline's components read
the mode (they run in the CLI's process under LocalDagRunner; elsewhere the mode is unset and
Keras prints as it always does).
"""
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from typing import Iterator, Optional

# Third-party lines a default run must not print, one pattern per line (re.search). The
# C++ lines are written straight to file descriptor 2 (TensorFlow registers its CUDA plugins
# at import, before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL does not stop them):
# a default run drops them there. The others are stopped where they are made (quiet()).
NOISE = (
    # TensorFlow's C++, at import, in every command.
    r"Unable to register cu(FFT|DNN|BLAS) factory",
    # TensorFlow's C++, at the first int64 op on a CPU without AVX-512.
    r"oneDNN supports DT_INT64 only on platforms with AVX-512",
    # absl's C++ logging, once, before the first message it logs in the process (the message
    # itself is below the level shown; seen at the first call of the simple baseline's model).
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    # transformers' loggers (TRANSFORMERS_VERBOSITY=error): the v5 notice and the
    # load notices of from_pretrained.
    r"TensorFlow and JAX classes are deprecated and will be removed in Transformers v5",
    r"This IS (NOT )?expected if you are initializing",
    r"^All (the )?(model checkpoint )?(layers|weights) (of|were used)",
    r"were not used when initializing",
    r"were not initialized from the model checkpoint",
    r"You should probably TRAIN this model",
    r"If your task is similar to the task the model of the checkpoint was trained on",
    # TFMA's recall and false-positive rate at thresholds no example reaches (0/0).
    r"RuntimeWarning: invalid value encountered in divide",
    # absl and Python logging below ERROR (TFX, Beam, TFMA).
    r"^[IW]\d{4} \d\d:\d\d:\d\d",
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.,]\d+:? (INFO|WARNING|[IW] )",
)
_NOISE = re.compile("|".join(f"(?:{p})" for p in NOISE))

# The TFMA warning, filtered where it is raised (module and message), not everywhere.
_TFMA_DIVIDE = dict(message="invalid value encountered in divide", category=RuntimeWarning,
                    module=r"tensorflow_model_analysis\.")

_mode: Optional[str] = None  # "quiet" or "verbose" while the CLI runs a command; else None
_last_output = 0.0  # time.monotonic() of the last line written through this module
_line_open = False  # a terminal progress line is shown, to be replaced or cleared


def is_noise(line: str) -> bool:
    return bool(_NOISE.search(line))


def quiet() -> bool:
    """True while the CLI runs a command without -v."""
    return _mode == "quiet"


def active() -> bool:
    """True while the CLI runs a command (quiet or -v): its progress lines are wanted."""
    return _mode is not None


def seconds_text(seconds: float) -> str:
    """21 s, 3 min 05 s, 1 h 02 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def eta_text(elapsed: float, done: float, total: Optional[float]) -> str:
    """'ETA 40 s' from the rate so far; '' while nothing is done or the total is unknown."""
    if not total or done <= 0 or elapsed <= 0:
        return ""
    return f"ETA {seconds_text(elapsed / done * max(0.0, total - done))}"


def process_started() -> float:
    """When this process started (epoch seconds, from /proc on Linux; else now): the time of a
    command includes the interpreter's start and the imports before any code of ours ran."""
    try:
        with open("/proc/self/stat") as f:
            # Field 22, after the command name in parentheses (which may hold spaces).
            start_ticks = int(f.read().rpartition(")")[2].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - max(0.0, age)
    except (OSError, ValueError, IndexError):
        return time.time()


def _tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def say(text: str) -> None:
    """A line of the run's own on stdout (a progress line on a terminal is replaced)."""
    global _last_output, _line_open
    prefix = "\r\033[K" if _line_open else ""
    _line_open = False
    print(prefix + text, flush=True)
    _last_output = time.monotonic()


def seconds_since_output() -> float:
    return time.monotonic() - _last_output


class Progress:
    """Progress of one task with an ETA: on a terminal, one line rewritten in place (at most
    every second); otherwise a line every `every` seconds, so that a log file stays
    readable. `line` writes a line that stays."""

    def __init__(self, every: float = 15.0):
        self.every = every
        self.started = time.monotonic()
        self._shown = self.started

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, text: str) -> None:
        global _last_output, _line_open
        now = time.monotonic()
        tty = _tty()
        if now - self._shown < (1.0 if tty else self.every):
            return
        self._shown = now
        if tty:
            sys.stdout.write("\r\033[K" + text)
            sys.stdout.flush()
            _line_open = True
            _last_output = now
        else:
            say(text)

    def line(self, text: str) -> None:
        self._shown = time.monotonic()
        say(text)


def end_process(code: int) -> None:
    """Ends the command's process with `code` once TensorFlow was loaded: the atexit handlers
    run and the streams are flushed, but not the interpreter's teardown of the loaded
    libraries, which takes seconds after the summary stated the command's time. Returns (for
    a normal exit) while a non-daemon thread still runs, or when TensorFlow was not loaded."""
    import atexit
    if "tensorflow" not in sys.modules or any(
            t.is_alive() and not t.daemon and t is not threading.main_thread()
            for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()  # noqa: SLF001 — what a normal exit runs, and nothing else
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# The filter of file descriptor 2, in a process of its own: it outlives a crash of the
# command, so that a fatal C++ message (a failed check, then abort) is not lost with it.
_FILTER = r"""
import os, re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
noise = re.compile(sys.argv[1])

def write(data):
    while data:
        data = data[os.write(1, data):]

pending = b""
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    pending += chunk
    # Lines end at \n; a \r (a progress bar) shows what came before it at once.
    parts = re.split(rb"(?<=[\n\r])", pending)
    pending = parts.pop()
    for part in parts:
        if not noise.search(part.decode("utf-8", "replace")):
            write(part)
if pending and not noise.search(pending.decode("utf-8", "replace")):
    write(pending)
"""


class _StderrFilter:
    """Points file descriptor 2 at a pipe to a small process that copies each line to the real
    stderr unless it is NOISE: C++ and Python writes alike pass through it."""

    def __init__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        read_end, write_end = os.pipe()
        try:
            # -I -S: the standard library only, no site-packages: it starts in milliseconds.
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _FILTER, _NOISE.pattern], stdin=read_end,
                stdout=self._saved, stderr=self._saved, start_new_session=True)
        except OSError:
            os.close(write_end)
            os.close(self._saved)
            raise
        finally:
            os.close(read_end)
        os.dup2(write_end, 2)
        os.close(write_end)

    def close(self) -> None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved, 2)  # the pipe's last write end closes: the filter drains it
        os.close(self._saved)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass  # a process forked meanwhile still holds the pipe; the filter ends after it


@contextlib.contextmanager
def output(verbose: bool) -> Iterator[None]:
    """The console of one CLI command: quiet unless `verbose` (see the module's doc)."""
    global _mode
    saved_mode, _mode = _mode, ("verbose" if verbose else "quiet")
    if verbose:
        try:
            yield
        finally:
            _mode = saved_mode
        return
    saved_env = os.environ.get("TRANSFORMERS_VERBOSITY")
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"  # read when transformers is imported
    hf_logging = sys.modules.get("transformers.utils.logging")  # imported already (tests)
    hf_level = hf_logging.get_verbosity() if hf_logging else None
    if hf_logging:
        hf_logging.set_verbosity_error()
    stderr_filter = None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", **_TFMA_DIVIDE)
            stderr_filter = _StderrFilter()
            yield
    finally:
        if stderr_filter is not None:
            stderr_filter.close()
        _mode = saved_mode
        if saved_env is None:
            os.environ.pop("TRANSFORMERS_VERBOSITY", None)
        else:
            os.environ["TRANSFORMERS_VERBOSITY"] = saved_env
        if hf_logging and hf_level is not None:
            hf_logging.set_verbosity(hf_level)
