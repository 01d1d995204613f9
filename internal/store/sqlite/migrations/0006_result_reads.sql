-- 0006: indexes for reading results by trace and by time.
--
-- run_instances_trace finds every evaluation of one trace (the trace view
-- shows a trace's judge scores), which the primary key (run_id, metric,
-- trace_id) cannot. runs_monitor_window_end finds a monitor's runs by the
-- end of the window they read (the quality time series of a monitor).
CREATE INDEX run_instances_trace ON run_instances (trace_id);
CREATE INDEX runs_monitor_window_end ON runs (monitor, window_end_ns);
