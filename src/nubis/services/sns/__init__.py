"""Amazon SNS (botocore `sns`, query protocol): topics, subscriptions, publish, durable fan-out."""
