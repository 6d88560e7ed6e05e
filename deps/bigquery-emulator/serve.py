"""Runs the local-bigquery emulator (its own CLI, same arguments) with one fix: a stream's appends and
its finalize happen one at a time, as in BigQuery.

local-bigquery 0.3.2 takes no lock in the Storage Write API: `_append` checks that the stream is not
finalized and that the offset is its end, inserts the rows, and only then adds them to the stream's
count, while the gRPC server runs up to 16 calls at once. So a finalize that arrives during an append
answers a row_count without that append's rows, which land all the same, and two appends at the same
offset on two connections can both land. BigQuery serializes them: an append is either counted by the
finalize or refused after it, and of two appends at one offset one is refused with ALREADY_EXISTS.
The exactly-once writer relies on both (a finalize's row_count is what the next owner skips).

This wraps the emulator's functions, it does not copy them: if an upgrade renames them, starting fails
here loudly rather than running unfixed.
"""

import collections
import sys
import threading

from google.cloud.bigquery_storage_v1 import types
from local_bigquery import cli
from local_bigquery.grpc import server, write

_locks: collections.defaultdict[str, threading.Lock] = collections.defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def _lock(stream_name: str) -> threading.Lock:
    with _locks_guard:
        return _locks[stream_name]


_append = write._append
_finalize = write.finalize


def _serialized_append(stream, rows, offset):
    with _lock(stream.name):
        return _append(stream, rows, offset)


def _serialized_finalize(request):
    with _lock(request.name):
        return _finalize(request)


# append() looks _append up at call time; the server bound finalize when it was imported.
write._append = _serialized_append
server.SERVICES["google.cloud.bigquery.storage.v1.BigQueryWrite"]["FinalizeWriteStream"] = server._unary(
    _serialized_finalize,
    types.FinalizeWriteStreamRequest,
    types.FinalizeWriteStreamResponse,
)

if __name__ == "__main__":
    sys.exit(cli.main())
