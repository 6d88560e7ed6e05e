/**
 * BigQuery's error reasons (the `reason` of an error in a REST answer) that mean "slow down", not
 * "not allowed": a 403 with one of them is retried by the sink and reported as a quota by the dashboard.
 */
export const QUOTA_REASONS: ReadonlySet<string> = new Set(['rateLimitExceeded', 'quotaExceeded']);
