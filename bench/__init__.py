"""Side-by-side benchmarks of synthmon against blackbox_exporter and curl (`make bench`); not tests."""
