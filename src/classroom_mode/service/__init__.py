"""The service layer: the live loop (`run`), the HTTP API and server-sent events (`serve`), the dashboard."""
