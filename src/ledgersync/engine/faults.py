"""A test seam between stages: `LEDGERSYNC_KILL_AT=<boundary>:<n>` SIGKILLs the process at the n-th crossing.

The kill suite uses it to die exactly between plan and execute ("planned"), between claiming a batch and
calling the platform ("claimed"), and between the platform's answer and recording it ("executed"); the attachments
stage's "attachment_claimed" (its state row claimed, nothing sent) and "attachment_sent" (the platform kept the
file, nothing recorded). Unset, a boundary costs one environment lookup."""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "LEDGERSYNC_KILL_AT"
BOUNDARIES = ("planned", "claimed", "executed", "attachment_claimed", "attachment_sent")
_crossed: Counter[str] = Counter()


def boundary(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _crossed[name] += 1
    if _crossed[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
