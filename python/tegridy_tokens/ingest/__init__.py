"""The ingestion pipeline, with PII tokenized on the way in: landed NDJSON is
validated and tracked (`track`), batched into manifests under a lock (`manifest`) and converted
to tokenized Parquet by a Spark job (`run`); `state` is the operations tool. docs/ingestion.md.

Where things are: `config` (ingest.toml), `paths` (local and Hadoop file systems), `validate`,
`state/` (statuses and transitions, the SQLite and DynamoDB stores, the lock), `manifests`
(grouping rules), `track` and `build` (the first two steps), `convert` (the Spark job), `run`
(one manifest through the job, committed atomically), `operations` (the `state` commands),
`commands` (the CLI's glue).
"""
