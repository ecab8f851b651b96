"""The service layer: the live loop (`run`) and the HTTP app (`serve`), in two packages and what both use.

- `live/`: the live loop (`loop.LiveLoop`), the cameras as it sees them (`feeds`), its store writes in order
  (`writes`) and the demo's ground-truth tap and scoring (`demo`).
- `api/`: the FastAPI app (`app.create_app`) with one router per area (`status`, `rooms`, `cameras`, `analysis`,
  `control`), the dashboard, the labelling page and what they share (`deps`, `limits`, `sse`, `ports`, `static/`).
- `analysis.py` (the `LocalEncoder` that turns a clip into a prediction and a surprise energy, and the
  `RemoteEncoder` that asks another `serve` to) and `api_models.py` (the API's bodies, which the `RemoteEncoder`
  reads): the live loop and the upload endpoints both use them, so they sit beside the two packages.

`api/` imports from `live/` (a `serve --live` runs the loop); `live/` never imports from `api/`.
"""
