"""Many submissions: where they come from, the local pool or Dask, progress and resuming."""
