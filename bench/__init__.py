"""`make bench` (= `python -m bench`): timing of the try-on chain and the batch system on this
machine's CPU. Prints a table and writes bench.json (machine, versions, the geometric chain per
pair against the floor measured in the same run with a per-step table, its per-person and
per-garment work (bench/pair.py, one thread), per-stage medians,
FLOP ceiling of the seed GMM/TOM, the seed GMM/TOM in int8 against fp32 (bench/precision.py:
speed, and the composite's error on held-out photos, random weights), batch throughput against two baselines, dispatch overhead,
1 vs 2 worker processes, peak RSS per worker), and every target of issue 12 as measured vs
target, met or missed.

No weights from outside are needed: the seed GMM and TOM are built at their real size and
architecture with random weights (tools.seed_onnx); stages whose files are absent (OpenPose,
LIP JPPNet) are reported absent, never estimated.
"""
