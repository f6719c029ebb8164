"""Console hygiene of the ``asd-tf`` command: TensorFlow's start-up log, filtered.

TensorFlow's C++ libraries log through absl while they load, *before* absl's
logging is initialised, and those records ignore ``TF_CPP_MIN_LOG_LEVEL``: on a
CPU-only machine every command used to open with "All log messages before
absl::InitializeLog() ...", "Could not find cuda drivers", the oneDNN notice,
the CPU-feature note and, when the devices are first listed, "failed call to
cuInit". :func:`start_tensorflow` imports TensorFlow and lists its devices with
file descriptor 2 pointed at a temporary file, then writes back every captured
record that ``TF_CPP_MIN_LOG_LEVEL`` keeps (default 2: errors and fatal
records), except CUDA start-up records on a machine without an NVIDIA device,
where "no GPU" is the expected state and not an error. Anything that is not a
recognised absl record is written back unchanged; Python output during the
import bypasses the capture. ``TF_CPP_MIN_LOG_LEVEL=0`` turns the filter off
(everything is shown, unfiltered).
"""

from __future__ import annotations

import glob
import os
import re
import sys
import tempfile

__all__ = ["prepare_environment", "start_tensorflow", "filter_startup_log", "has_nvidia_device", "keras_backend_name",
           "one_line_warnings"]

# absl's record prefix: severity letter, MMDD hh:mm:ss.micros (before absl is initialised: 0000 00:00:<epoch
# seconds>.micros), thread id, file:line]
_RECORD = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+\s+([^\s:]+):\d+\] ?(.*)$")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
# CUDA platform start-up: driver and runtime look-up, cuInit, GPU-library registration.
_CUDA = re.compile(r"cuda|cuinit|cudart|cudnn|cufft|cublas|tensorrt|gpu will not be used", re.IGNORECASE)


def prepare_environment() -> None:
    """Environment defaults of the command, set before TensorFlow is imported (never overriding the user's).

    ``TF_CPP_MIN_LOG_LEVEL=2``: TensorFlow's own C++ log shows errors only.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _warning_line(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def one_line_warnings() -> None:
    """Show Python warnings as ``warning: MESSAGE`` lines (the command's console; library users keep Python's format).

    Python's default format adds the file, line, category and the source line of the call
    that warned (for the toolkit's own warnings, an internal line such as ``check()``), which
    reads as a stray fragment in the command's output. The toolkit's warning messages name the
    file or setting they are about themselves.
    """
    import warnings

    warnings.formatwarning = _warning_line


def keras_backend_name() -> str:
    """The Keras backend this process will use, read as Keras reads it but without importing Keras.

    ``$KERAS_BACKEND``, else the ``backend`` of ``$KERAS_HOME/keras.json`` (default
    ``~/.keras/keras.json``), else ``tensorflow``. (Importing Keras on TensorFlow would
    import TensorFlow outside :func:`start_tensorflow`'s log capture.)
    """
    import json

    name = os.environ.get("KERAS_BACKEND")
    if name:
        return name
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as fh:
            return str(json.load(fh).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def has_nvidia_device() -> bool:
    """Whether the machine exposes an NVIDIA GPU (device nodes or the driver's /proc entry)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.isdir("/proc/driver/nvidia/gpus")


def _min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def filter_startup_log(text: str, min_level: int, drop_cuda: bool) -> str:
    """The lines of captured start-up ``text`` worth showing.

    A record (``I``/``W``/``E``/``F`` prefix plus its continuation lines) is kept when its
    severity is at least ``min_level`` (0 = info ... 3 = fatal, as ``TF_CPP_MIN_LOG_LEVEL``), and
    when ``drop_cuda`` also only if it is not about the CUDA platform (fatal records always stay).
    A line without the prefix continues the record above it (absl writes multi-line messages, such
    as the CPU-feature note); before the first record, after absl's "All log messages before
    absl::InitializeLog()" notice (dropped) or after a blank line it stands alone and is kept.
    """
    kept: list[str] = []
    keep_record = True
    in_record = False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = _RECORD.match(body)
        if match:
            severity, source, message = _SEVERITY[match.group(1)], match.group(2), match.group(3)
            in_record = True
            keep_record = severity >= min_level and (
                severity == 3 or not (drop_cuda and (_CUDA.search(source) or _CUDA.search(message)))
            )
            if keep_record:
                kept.append(line)
        elif body.strip() == _ABSL_PREAMBLE:
            in_record = False
        elif in_record and body.strip():
            if keep_record:  # continuation of a multi-line record
                kept.append(line)
        else:
            in_record = False
            if body.strip():
                kept.append(line)
    return "".join(kept)


def start_tensorflow() -> None:
    """Import TensorFlow and list its devices, writing back only the start-up log worth showing.

    Does nothing when TensorFlow is already imported, or when Keras runs on another backend
    (``KERAS_BACKEND=jax`` or ``torch``: TensorFlow is then not needed and may not be installed).
    A failing import still writes back everything it logged, then raises.
    """
    prepare_environment()
    if "tensorflow" in sys.modules or keras_backend_name() != "tensorflow":
        return
    level = _min_log_level()
    if level <= 0:  # the user asked for everything
        import tensorflow as tf

        tf.config.list_physical_devices()
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    python_stderr = sys.stderr
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        # Python's own output (warnings, tracebacks) goes to the real stderr, not into the capture.
        # This stream stays open: a logging handler created during the import (TensorFlow's own
        # logger) keeps writing to it.
        bypass = os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding=getattr(python_stderr, "encoding", None)
                           or "utf-8", errors="backslashreplace")
        sys.stderr = bypass
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA platform (cuInit) starts here
        finally:
            bypass.flush()
            sys.stderr = python_stderr
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            shown = filter_startup_log(text, level, drop_cuda=not has_nvidia_device())
            if shown:
                python_stderr.write(shown)
                python_stderr.flush()
