-- wrk's summary as one JSON line after the run, read by loadtests/wrk.py: the
-- counts, and latency percentiles in microseconds (wrk's own text has no p95).
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(95)), math.floor(latency:percentile(99)),
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
