"""Answering without HTTP: rag (plan → quote → prompt → generate), llm adapters, A/B variants,
traces and feedback, exports. Used by the API, the Slack bot, the CLI and the benches."""
