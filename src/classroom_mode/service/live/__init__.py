"""The live loop and what it runs on: cameras turned into clips, clips into room modes in the history store.

`loop` (`LiveLoop`: a worker per camera and a supervisor), `feeds` (a camera as the loop sees it, with freshness),
`writes` (the loop's store writes in order, held while the database is busy) and `demo` (the demo's simulated
cameras, tapped for their ground truth and played in lockstep with the loop, and the scoring against it). Nothing
here imports the HTTP app: `run` drives the loop without it, `serve --live` hands the loop to it.
"""
