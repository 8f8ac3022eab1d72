"""Sinks: where results and alerts go. A sink never fails a run."""
