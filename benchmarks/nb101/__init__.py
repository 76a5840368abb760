"""NAS-Bench-101 (Ying et al., ICML 2019) without TensorFlow: the cell graph, its hash and the table.

``graph``: pruning and the isomorphism-invariant spec hash, bit-identical to the official code;
``tfrecord``: the official record framing (masked CRC-32C); ``metrics``: the ``ModelMetrics`` message;
``importer``: official tfrecord -> compact table; ``oracle``: the compact table.
"""
