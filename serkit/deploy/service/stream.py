"""``WS /v1/stream``: one streaming session (validated first message, bounded, timed out)."""

# no ``from __future__ import annotations``: FastAPI reads endpoint annotations at run time
import functools
import json

import anyio
import numpy as np

from serkit.deploy.service.config import ServeConfig
from serkit.deploy.service.errors import ApiError
from serkit.deploy.service.limits import Gate
from serkit.deploy.service.observe import Metrics


def number(hello: dict, key: str, default, lo: float, hi: float, integer: bool = False):
    """A finite number in ``[lo, hi]`` from the stream's first message (a ``ValueError`` says
    why)."""
    import math

    v = hello.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{key} must be a finite number, got {v!r}")
    if integer and int(v) != v:
        raise ValueError(f"{key} must be a whole number, got {v!r}")
    if not lo <= v <= hi:
        raise ValueError(f"{key} must be in [{lo:g}, {hi:g}], got {v!r}")
    return int(v) if integer else float(v)


async def stream_session(
    ws, recs: dict, default: str, gate: Gate, metrics: "Metrics", cfg: ServeConfig
) -> None:
    """One WebSocket stream (see the module docstring for the protocol). Its first message is
    validated (finite numbers in range), it counts toward ``max_streams``, every feed runs
    through the inference gate, and a silent client is timed out."""
    from starlette.websockets import WebSocketDisconnect

    from serkit.core.errors import ConfigError
    from serkit.deploy.stream import MAX_RATE, MAX_WINDOW_S, MIN_HOP_S, MIN_RATE

    await ws.accept()

    async def fail(code: str, message: str, close_code: int):
        await ws.send_json({"error": {"code": code, "message": message}})
        await ws.close(close_code)

    if gate.closing:
        return await fail("shutting_down", "the service is shutting down", 1001)
    if gate.streams >= cfg.max_streams:
        return await fail(
            "overloaded",
            f"{gate.streams} streams open (limit {cfg.max_streams}); retry later",
            1013,
        )
    gate.streams += 1
    metrics.streams.inc()
    try:
        try:
            with anyio.fail_after(cfg.stream_first_message_s):
                first = await ws.receive()
        except TimeoutError:
            return await fail(
                "timeout", f"no first message within {cfg.stream_first_message_s:g} s", 1008
            )
        if first["type"] == "websocket.disconnect":
            return
        try:
            hello = json.loads(first.get("text") or "")
            if not isinstance(hello, dict):
                raise ValueError("not an object")
        except ValueError:
            return await fail(
                "bad_start",
                'the first message must be JSON text: {"sample_rate": 16000, "format": "pcm16"}',
                1008,
            )
        name = hello.get("model") or default
        fmt = hello.get("format", "pcm16")
        if not isinstance(name, str) or name not in recs:
            return await fail(
                "unknown_model", f"model {name!r} is not loaded; loaded: {sorted(recs)}", 1008
            )
        if fmt not in ("pcm16", "float32"):
            return await fail("bad_format", f"format must be pcm16 or float32, got {fmt!r}", 1008)
        try:
            rate = number(hello, "sample_rate", None, MIN_RATE, MAX_RATE, integer=True)
            window = number(hello, "window", 2.0, 0.1, MAX_WINDOW_S)
            hop = number(hello, "hop", 0.5, MIN_HOP_S, MAX_WINDOW_S)
            st = recs[name].stream(rate, window, hop)
        except (ConfigError, TypeError, ValueError) as exc:
            return await fail("bad_start", str(exc), 1008)
        width, dtype = (2, "<i2") if fmt == "pcm16" else (4, "<f4")
        carry, sent = b"", 0
        while True:
            try:
                with anyio.fail_after(cfg.stream_idle_s):
                    msg = await ws.receive()
            except TimeoutError:
                return await fail("timeout", f"no message for {cfg.stream_idle_s:g} s", 1001)
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("bytes") is not None:
                data = carry + msg["bytes"]
                cut = len(data) - len(data) % width
                carry, data = data[cut:], data[:cut]
                if not data:
                    continue
                chunk = np.frombuffer(data, dtype)
                try:
                    rows = await gate.run(functools.partial(st.feed, chunk))
                except ConfigError as exc:
                    return await fail("bad_samples", str(exc), 1007)
                except ApiError as exc:
                    return await fail(exc.code, exc.message, 1013)
            else:
                try:
                    end = json.loads(msg.get("text") or "").get("end")
                except (ValueError, AttributeError):
                    end = None
                if not end:
                    await ws.send_json(
                        {
                            "error": {
                                "code": "bad_message",
                                "message": 'send binary samples, or {"end": true} to finish',
                            }
                        }
                    )
                    continue
                try:
                    rows = await gate.run(st.close)
                except ApiError as exc:
                    return await fail(exc.code, exc.message, 1013)
            for r in rows:
                await ws.send_json(r.to_dict())
            sent += len(rows)
            metrics.stream_rows.inc(len(rows))
            if msg.get("bytes") is None:
                await ws.send_json({"done": True, "rows": sent})
                await ws.close(1000)
                return
    except WebSocketDisconnect:
        return
    finally:
        gate.streams -= 1
        metrics.streams.dec()
