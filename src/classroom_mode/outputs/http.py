"""One POST for the HTTP sinks (bus, webhook), with the answer sorted into delivered, Retry or Rejected.

2xx is delivered. Unreachable, a timeout, 408, 425, 429 and 5xx may pass: Retry. 401 and 403 mean the key or
secret is wrong: Retry too (fixing the environment and restarting must not find the events parked), and the
backoff keeps it from being a storm. Any other 4xx is this event's fault: Rejected, with the start of the
answer's text. Nothing that is sent (headers, keys) is ever put in an error, and a secret the answer echoes
is blanked.
"""

from __future__ import annotations

import httpx

from classroom_mode.outputs.delivery import Rejected, Retry

_RETRYABLE = {408, 425, 429}
_AUTH = {401, 403}
ANSWER_CHARS = 200


def post(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str], timeout_s: float, secrets: list[str]
) -> None:
    """POST `body` to `url`; returns when the answer is 2xx, raises Retry or Rejected otherwise."""
    try:
        response = client.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        raise Retry(f"no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise Retry(f"cannot reach it ({type(exc).__name__}: {_scrub(str(exc), secrets)})") from None
    status = response.status_code
    if 200 <= status < 300:
        return
    answer = _scrub(" ".join(response.text[:ANSWER_CHARS].split()), secrets)
    if status in _AUTH:
        raise Retry(f"HTTP {status}: the key or secret was refused (check the environment variable it comes from)")
    if status in _RETRYABLE or status >= 500:
        raise Retry(f"HTTP {status}: {answer}")
    raise Rejected(f"HTTP {status}: {answer}")


def _scrub(text: str, secrets: list[str]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text
