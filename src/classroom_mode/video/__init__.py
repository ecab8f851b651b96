"""Video in and out: decoding files, camera sources, clip building, recording, writing clips."""
