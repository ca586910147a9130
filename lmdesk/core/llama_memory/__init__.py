"""What llama.cpp really allocates, read from its own log: the estimator's ground truth.

Used by the accuracy benchmark and tests, by the GPU check script, and after a
load to show the real numbers next to the estimate.
"""

from .compare import Row, compare
from .log import Buffers, parse_buffer_log
from .measure import measure
from .rpc import RpcServer

__all__ = ["Buffers", "Row", "RpcServer", "compare", "measure", "parse_buffer_log"]
