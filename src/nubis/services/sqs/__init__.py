"""Amazon SQS (API 2012-11-05): durable standard and FIFO queues in SQLite."""
