"""The HTTP side: the API, the dashboard and the labelling page, as FastAPI routers.

`app.create_app` builds the API app and includes one router per area, each a module named after its OpenAPI tag
and declaring its prefix, its tag and what its routes share (the bearer token, the refusals they document):
`status` (`/health`, output sinks, the event stream), `rooms`, `cameras`, `analysis` (uploaded clips, behind the
token) and `control` (pausing cameras and rooms). `dashboard` (with `dashboard_views`, `dashboard_probes` and
`dashboard_images`) mounts the dashboard on that app; `labelling` is the labelling page, mounted on an app of its
own by the `label` command. Shared by them: `deps` (what endpoints get by `Depends`), `limits` (the streaming cap on
request bodies), `sse` (server-sent events from the store) and `ports`; `static/` holds the pages' HTML, CSS and
JavaScript.

This file imports nothing, so a module that needs only `ports` (the CLI, for the labeller's default port) does
not load FastAPI.
"""
