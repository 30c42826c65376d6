"""Mail that comes in on this machine: ``.eml`` files dropped in a folder, taken in as replies one by one.

Each file is moved, once read, to a subfolder named by its outcome (``appended``, ``repeated``, ``ignored``,
``refused``), so nothing is read twice and nothing is lost; on AWS the same use case reads the mail SES stored.
"""

from __future__ import annotations

import logging
from pathlib import Path

from handler.usecases.conversing import Conversing, Outcome, Received, receive

log = logging.getLogger("servicedesk_forms.inbox")


def take_inbox(use: Conversing, folder: Path) -> list[tuple[str, Received]]:
    """Take every ``.eml`` file in ``folder``, oldest name first; what became of each."""
    taken = []
    for path in sorted(folder.glob("*.eml")):
        try:
            received = receive(use, path.read_bytes())
        except OSError:
            continue  # still being written, or gone: the next round takes it
        done = folder / str(received.outcome)
        done.mkdir(exist_ok=True)
        path.replace(done / path.name)
        taken.append((path.name, received))
    return taken


__all__ = ["Outcome", "take_inbox"]
