"""`make bench`: a generated network at scale and the timings of issue 6 (see bench/RESULTS.md)."""
