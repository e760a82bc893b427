"""The gateway's Prometheus metrics: one registry, the metric objects, and the `/metrics` body."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# One registry of our own, so tests and the app never see the client library's default globals.
REGISTRY = CollectorRegistry(auto_describe=True)

UPSTREAM_LATENCY = Histogram(
    "ehp_upstream_latency_seconds",
    "Time of one call to a source system, per attempt.",
    ["source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0),
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "ehp_upstream_errors_total",
    "Failed calls to a source system, by error kind (timeout, connect, http_503, ...).",
    ["source", "kind"],
    registry=REGISTRY,
)
CACHE_HITS = Counter(
    "ehp_cache_hits_total",
    "Fetches answered from a fresh cached copy without asking the source.",
    ["source"],
    registry=REGISTRY,
)
CACHE_MISSES = Counter(
    "ehp_cache_misses_total",
    "Fetches that found no fresh cached copy and went to the source.",
    ["source"],
    registry=REGISTRY,
)
CACHE_STALE_SERVED = Counter(
    "ehp_cache_stale_served_total",
    "Fetches answered with an older cached copy because the source failed.",
    ["source"],
    registry=REGISTRY,
)
BREAKER_STATE = Gauge(
    "ehp_breaker_state",
    "Circuit breaker state per source: 0 closed, 1 half-open, 2 open.",
    ["source"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "ehp_upstream_retries_total",
    "Extra attempts made after a retryable failure.",
    ["source"],
    registry=REGISTRY,
)
RETRY_BUDGET_EXHAUSTED = Counter(
    "ehp_retry_budget_exhausted_total",
    "Retries skipped because the source's retry budget was empty.",
    ["source"],
    registry=REGISTRY,
)
REQUESTS = Counter(
    "ehp_requests_total",
    "GraphQL requests by the caller's role and the outcome.",
    ["role", "outcome"],
    registry=REGISTRY,
)
SUMMARY_REQUESTS = Counter(
    "ehp_summary_requests_total",
    "IPS $summary requests (the FHIR face) by the caller's role and the outcome.",
    ["role", "outcome"],
    registry=REGISTRY,
)
REDIS_DEGRADED = Counter(
    "ehp_cache_redis_degraded_total",
    "Shared-cache operations skipped or failed because Redis was unreachable.",
    ["operation"],
    registry=REGISTRY,
)
CACHE_REJECTED = Counter(
    "ehp_cache_rejected_total",
    "Cached values that failed authentication or decoding and were treated as a miss.",
    ["reason"],
    registry=REGISTRY,
)

RATE_LIMITED = Counter(
    "ehp_rate_limited_total",
    "Requests refused with RATE_LIMITED, by the limit (principal_rate, address_burst, ...).",
    ["limit"],
    registry=REGISTRY,
)
PATIENT_CEILING_REACHED = Counter(
    "ehp_patient_ceiling_reached_total",
    "Reads refused because a nurse or doctor reached the distinct-patient ceiling of the day.",
    ["role"],
    registry=REGISTRY,
)
LIMITS_DEGRADED = Counter(
    "ehp_limits_degraded_total",
    "Limit checks skipped (let through) because their shared store did not answer.",
    ["limit"],
    registry=REGISTRY,
)
NOTIFICATIONS_UNDELIVERED = Gauge(
    "ehp_notifications_undelivered",
    "Patient notifications queued in the outbox and not yet delivered (still retried).",
    registry=REGISTRY,
)
NOTIFICATIONS_GIVEN_UP = Gauge(
    "ehp_notifications_given_up",
    "Patient notifications given up after notifications.max_attempts (kept in the outbox).",
    registry=REGISTRY,
)
NOTIFICATION_ATTEMPTS = Counter(
    "ehp_notification_attempts_total",
    "Attempts to deliver a patient notification, by outcome: delivered, failed, given_up.",
    ["outcome"],
    registry=REGISTRY,
)

BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def render_metrics() -> tuple[bytes, str]:
    """The `/metrics` response: the text exposition of the registry and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
