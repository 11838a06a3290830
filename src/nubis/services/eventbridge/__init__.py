"""EventBridge: event buses, rules (event patterns and schedules) and their targets."""
