"""The service layer: one function per thing a person does, shared by the `dat` CLI, the HTTP
API and the web console. Each takes a `ServiceContext` (settings, store, workflow, a Dagster
instance opened on first use, the caller) and returns the JSON-ready view the front-ends render;
errors are the typed errors of `dat_pipeline.errors`. One module per domain: `dat`, `ingestion`,
`analysis`, `backfill`, `reverse_etl`, `tokens`; `access` holds tokens and project scoping."""
