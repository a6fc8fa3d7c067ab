"""What the launcher says on the console: progress (live on a terminal, plain lines in a log) and
the final line that sums up a prediction, the same for local and remote runs."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from alphafold_msa.errors import printable
from alphafold_msa.protocol.output import DEMO_WEIGHTS_NOTE


class StatusPrinter:
    """Status lines: rewritten in place on a terminal, one plain line per change otherwise."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        text = printable(text)
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        elif text != self.last:
            print(text, file=self.stream, flush=True)
        self.last = text

    def done(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.last = ""


class ProgressLog:
    """Progress messages of a prediction with the time since it started. On a terminal the latest
    message stays on a live line whose clock ticks every second (compiling and each model take
    long, silently); elsewhere each message is one plain line, '[  12.3 s] message'."""

    def __init__(self, stream: TextIO | None = None, tick_s: float = 1.0):
        self.printer = StatusPrinter(stream)
        self.started = time.monotonic()
        self.message = ""
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.ticker = threading.Thread(target=self._tick, args=(tick_s,), daemon=True)
        if self.printer.tty:
            self.ticker.start()

    def __call__(self, message: str) -> None:
        with self.lock:
            if self.printer.tty:
                self.printer.done()  # the previous message stays on its own line
            self.message = message
            self._show()

    def _show(self) -> None:
        self.printer.show(f"[{time.monotonic() - self.started:6.1f} s] {self.message}")

    def _tick(self, tick_s: float) -> None:
        while not self.stopped.wait(tick_s):
            with self.lock:
                if self.message:
                    self._show()

    def close(self) -> None:
        self.stopped.set()
        with self.lock:
            self.printer.done()

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def describe_relax(info: Any) -> str:
    """', relaxed on CPU in 8.3 s', ', NOT relaxed (reason)' or ', not relaxed' when it was not asked for
    (or the scores say nothing readable about it)."""
    if not isinstance(info, dict) or not info:
        return ", not relaxed"
    if "error" in info:
        return f", NOT relaxed: {info['error']} (the unrelaxed model was written)"
    seconds = info.get("seconds")
    took = f" in {seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
    return f", relaxed on {info.get('platform', 'an unnamed platform')}{took}"


def result_line(output: str, scores: dict[str, Any]) -> str:
    """The final line of a prediction, from its scores (<output>.scores.json): 'wrote model.pdb
    (model_1_ptm, mean pLDDT 87.12, pTM 0.812, not relaxed)'. A remote job's scores come from the
    endpoint: the caller prints the line through `printable`."""
    numbers = [f"mean pLDDT {scores['mean_plddt']:.2f}"] if isinstance(scores.get("mean_plddt"), (int, float)) else []
    numbers += [f"{name} {scores[key]:.3f}" for key, name in (("ptm", "pTM"), ("iptm", "ipTM"))
                if isinstance(scores.get(key), (int, float))]
    msa = scores.get("msa")
    note = msa.get("note") if isinstance(msa, dict) else None
    extras = "".join(f"; {text}" for text in (note, DEMO_WEIGHTS_NOTE if scores.get("demo_weights") else None) if text)
    cluster = scores.get("msa_cluster")
    alignment = f" of AF-Cluster alignment {cluster}" if isinstance(cluster, str) else ""
    return (f"wrote {output} ({scores.get('model', 'unknown model')}{alignment}, {', '.join(numbers)}"
            f"{describe_relax(scores.get('relax'))}){extras}")
