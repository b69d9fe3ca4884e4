-- The W3C trace context of the call that created an instance (OpenTelemetry), so its
-- decisions and jobs join one trace and the API can show the trace id.
ALTER TABLE instances ADD COLUMN traceparent TEXT;
