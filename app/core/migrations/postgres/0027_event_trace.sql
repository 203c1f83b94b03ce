-- The W3C traceparent of the request whose change wrote the event (NULL: none), so that
-- its webhook deliveries continue that trace.
ALTER TABLE events ADD COLUMN trace_parent TEXT;
