"""``harness bench``: performance figures of this machine, each against a reference measured in the same run.

Sections: ``oracle`` (the compact NB201 table vs the official ``nas_201_api`` / ``nats_bench`` readers on
official-format files the bench writes), ``supernet`` (training-step throughput of our NB201 supernet vs
the published reference cell design) and ``epochs`` (seconds per search epoch per method and how they
scale with C, N and batch size). docs/performance.md has the measured tables.
"""
