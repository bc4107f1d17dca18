"""Questions built on the model: rank chips (compare), the throughput-interactivity frontier,
co-located against disaggregated serving, and the scenario runners."""
