"""Speed and accuracy against peers, with recorded results (benchmarks/results/)."""
