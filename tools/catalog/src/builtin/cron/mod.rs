//! The `cron.*` tools.
