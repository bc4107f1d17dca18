"""The grid engine: a design-space sweep over chips x models x budgets x mappings x lengths x
batches, streamed in chunks through the numba kernel and kept as reductions (tidy DataFrames)."""
