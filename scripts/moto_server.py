"""moto's server (SQS, Secrets Manager) for the local stack, with one fix for speed.

moto 5.2.5 builds every attribute of a queue to read one of them: each SendMessage asks for
`ContentBasedDeduplication`, and the answer also counts the visible, delayed and in-flight
messages, each a pass over every message held. A send costs time in proportion to the queue's
length (35 ms per message with 1,000 queued, measured), so a burst of change events slowed every
local write to a crawl. Here the attributes are a mapping that computes each value when it is
read: the same names, order and values, and a send no longer walks the queue. Everything else
is moto as pinned in scripts/versions.env.

Run with moto's own interpreter: "$PROVISIO_MOTO_BIN/python" scripts/moto_server.py -H ... -p ...
"""

import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import moto
from moto.core.utils import camelcase_to_underscores
from moto.server import main
from moto.sqs import models

# The patch stands in for moto 5.2.5's own `Queue.attributes` (checked equal to it): another moto
# must be checked again before it runs here.
PATCHED_FOR = "5.2.5"
if moto.__version__ != PATCHED_FOR:
    sys.exit(f"scripts/moto_server.py patches moto {PATCHED_FOR}, found {moto.__version__}: check the patch")


class QueueAttributes(Mapping):
    """`Queue.attributes` of moto, each value computed on reading it."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        self._names = names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        queue = self._queue
        if name == "Policy" and queue.policy:
            return queue.policy
        if name == "RedrivePolicy" and queue.redrive_policy:
            return json.dumps(queue.redrive_policy)
        value = getattr(queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


models.Queue.attributes = property(QueueAttributes)  # type: ignore[assignment]

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
