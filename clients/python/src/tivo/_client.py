"""The client: HTTP routes through the standard library, playback through ``websockets``."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, AsyncIterator, Dict, Iterator, List, Optional, Union

import websockets

if TYPE_CHECKING:  # pandas is an optional extra: pip install tivo-client[pandas]
    import pandas

Time = Union[str, datetime]
"""An instant: an ISO-8601 string with ``Z`` or an offset, or a timezone-aware ``datetime``."""

DEFAULT_LEAD_MS = 500
"""The lead a playback asks for unless told otherwise (ms): the gateway sends messages up to this far ahead of their due
in ``batch`` frames and the client hands each on at its due (docs/protocol.md, Lead mode)."""

MAX_LEAD_MS = 1000
"""The longest lead the gateway grants (ms)."""

RELEASE_EARLY_MS = 0.5
"""A held message is handed on once it is due within this much: the event loop's timers wake whole milliseconds late
rather than early, so the client aims a millisecond ahead and releases what falls due by then."""


CLOCK_WINDOW_MS = 10_000
"""How long a sample of the gateway's clock counts (ms): the client follows a gateway clock stepped back (or running slower
than this one) within one to two of these."""


class _ClockOffset:
    """The gateway's clock − this one (ms), estimated from batch frames' ``now``: the largest (``now`` − arrival) of this
    window and the one before. That is the offset less the quickest transit seen lately: a clock set wrong on either side
    does not shift releases, and one stepped (an NTP correction) is followed within two windows rather than only by the
    next connection."""

    __slots__ = ("value", "_window", "_since", "_best", "_before")

    def __init__(self, window_ms: float = CLOCK_WINDOW_MS) -> None:
        self._window = window_ms
        self.reset()

    def reset(self) -> None:
        """Forgets every sample (a new connection, perhaps to another gateway)."""
        self.value: Optional[float] = None
        self._since = 0.0
        self._best = self._before = -math.inf

    def observe(self, server_now: float, wall: float, elapsed: float) -> None:
        """A frame written at ``server_now`` by the gateway's clock arrived at ``wall`` by this one; ``elapsed`` is a
        monotonic clock (ms) that times the windows, so a step of this machine's wall clock does not stall them."""
        skew = server_now - wall
        if skew != skew:  # NaN: the frame had no usable `now`
            return
        if self.value is None or elapsed - self._since >= self._window:
            # A new window: the one ending becomes the one before (forgotten when no frame came for a whole window).
            recent = self.value is not None and elapsed - self._since < 2 * self._window
            self._before = self._best if recent else -math.inf
            self._best = skew
            self._since = elapsed
        elif skew > self._best:
            self._best = skew
        self.value = max(self._best, self._before)


def _wall_ms() -> float:
    """This machine's clock, epoch milliseconds (the gateway's ``due`` and ``now`` are on the same scale)."""
    return time.time() * 1000.0


class TivoError(Exception):
    """A refusal from the server, with its protocol code (``bad_request``, ``unknown_channel``, …)."""

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _iso(value: Optional[Time]) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("a datetime must be timezone-aware (Tivo needs to know which instant it is)")
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class Client:
    """A Tivo gateway at ``url`` (``http://host:8080``); ``token`` when the server requires access tokens."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # ───────────────────────── HTTP ─────────────────────────

    def channels(self) -> List[Dict[str, Any]]:
        """Every channel: ``{"name", "first", "last", "count"}`` (extent in ISO-8601 UTC)."""
        with self._get("channels") as response:
            return json.load(response)

    def histogram(self, channel: str, start: Optional[Time] = None, end: Optional[Time] = None, step: int = 1) -> Dict[str, Any]:
        """Event counts of a window in bins of ``step`` seconds (at most 31 days; nonzero bins only)."""
        with self._get(f"channels/{_segment(channel)}/histogram", start=_iso(start), end=_iso(end), step=str(step)) as response:
            return json.load(response)

    def events(self, channel: str, start: Optional[Time] = None, end: Optional[Time] = None, page_size: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """The window's stored events in time order, as ``{"ts", "data"}`` dicts, streamed from the export route.

        ``page_size`` fetches the window in pages of that many rows (each a request resuming after the last row),
        for proxies that cut long responses; by default one streamed response carries the whole window.
        """
        after: Optional[str] = None
        while True:
            query = {"start": _iso(start), "end": _iso(end)}
            if page_size is not None:
                query["limit"] = str(page_size)
            if after is not None:
                query["after"] = after
            rows = 0
            last: Optional[str] = None
            ties = 0
            with self._get(f"channels/{_segment(channel)}/events", **query) as response:
                for line in response:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    rows += 1
                    ties = ties + 1 if row["ts"] == last else 1
                    last = row["ts"]
                    yield row
            if page_size is None or rows < page_size or last is None:
                return
            # The next page starts after the last row: its ts, and how many rows at exactly that ts were received
            # (counting those of earlier pages when a whole page shared one ts).
            previous = after.split("~")[0] if after else None
            carried = int(after.split("~")[1]) if after and "~" in after and previous == last and ties == rows else 0
            after = f"{last}~{ties + carried}"

    def frame(self, channel: str, start: Optional[Time] = None, end: Optional[Time] = None) -> "pandas.DataFrame":
        """The window as a pandas DataFrame: a timezone-aware UTC ``ts`` column and the payload's fields as columns
        (a payload that is not an object is one ``data`` column). Needs pandas (``tivo-client[pandas]``)."""
        import pandas as pd

        records = []
        for row in self.events(channel, start, end):
            data = row["data"]
            record = dict(data) if isinstance(data, dict) else {"data": data}
            record["ts"] = row["ts"]
            records.append(record)
        frame = pd.DataFrame.from_records(records)
        if frame.empty:
            return pd.DataFrame({"ts": pd.Series([], dtype="datetime64[ns, UTC]")})
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        return frame[["ts"] + [c for c in frame.columns if c != "ts"]]

    # ───────────────────────── playback ─────────────────────────

    def play(
        self,
        channel: Union[str, List[str]],
        start: Optional[Time] = None,
        end: Optional[Time] = None,
        *,
        speed: Optional[float] = None,
        duration: Optional[float] = None,
        rate: Optional[float] = None,
        max_gap: Optional[float] = None,
        loop: bool = False,
        session: Optional[str] = None,
        lead: float = DEFAULT_LEAD_MS,
    ) -> "Playback":
        """Plays a window over the WebSocket: ``async with client.play(...) as p: async for event in p``.

        Events arrive at their due times. ``p.pause()``, ``p.resume()``, ``p.seek(to)``, ``p.speed(x)`` control the
        session; ``session`` joins (or names) a shared session. A dropped connection is resumed by ``lastSeq``:
        nothing is missed or repeated while the session still holds the events.

        ``lead`` (ms, 0 to 1000; 500 by default) is lead mode: the gateway sends messages up to that far ahead in
        batch frames and this client hands each on at its due, by the gateway's clock (a jitter buffer). That costs
        the server a fraction of a frame per event instead of one; ``lead=0`` has the gateway time each event itself.
        """
        if isinstance(lead, bool) or not isinstance(lead, (int, float)) or not 0 <= lead <= MAX_LEAD_MS:
            raise ValueError(f"lead must be a number of milliseconds from 0 to {MAX_LEAD_MS}, not {lead!r}")
        channels = [channel] if isinstance(channel, str) else list(channel)
        play: Dict[str, Any] = {"action": "play", "channels": channels, "start": _iso(start), "end": _iso(end), "loop": loop}
        for key, value in (("speed", speed), ("duration", duration), ("rate", rate), ("maxGap", max_gap)):
            if value is not None:
                play[key] = value
        return Playback(self, channels, play, session, lead)

    # ───────────────────────── internals ─────────────────────────

    def _get(self, path: str, **query: Optional[str]):
        params = {k: v for k, v in query.items() if v is not None}
        if self.token:
            params["token"] = self.token
        url = f"{self.url}/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            return urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=self.timeout)
        except urllib.error.HTTPError as error:
            body = error.read().decode("utf-8", "replace")
            try:
                problem = json.loads(body)
                raise TivoError(problem.get("code", "internal"), problem.get("message", body), error.code) from None
            except ValueError:
                raise TivoError("internal", body or str(error), error.code) from None
        except urllib.error.URLError as error:
            raise TivoError("unavailable", f"cannot reach the Tivo server at {self.url}: {error.reason}") from None

    def _socket_url(self, query: Dict[str, str]) -> str:
        base = self.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        if self.token:
            query = {**query, "token": self.token}
        return f"{base}/ws?" + urllib.parse.urlencode(query, doseq=True)


def _segment(channel: str) -> str:
    return urllib.parse.quote(channel, safe="")


class Playback:
    """One participant of a playback session: an async iterator of events at their due times, with controls."""

    def __init__(self, client: Client, channels: List[str], play: Dict[str, Any], session: Optional[str], lead: float = 0) -> None:
        self._client = client
        self._channels = channels
        self._play = play
        self.session = session
        self.lead = lead  # lead mode's lead (ms; 0: off): see Client.play
        self.last_seq: Optional[int] = None
        self.state: Optional[Dict[str, Any]] = None
        # Lead mode's jitter buffer: (due, arrival order, message), the earliest first; one event-loop timer for it.
        self._held: List[Any] = []
        self._arrivals = itertools.count()
        self._skew = _ClockOffset()  # the gateway's clock − this one (ms), estimated from batch frames
        self._release: Optional[asyncio.TimerHandle] = None
        self._release_for: Optional[float] = None  # the time (this clock, epoch ms) the timer is set for
        self._socket: Any = None
        self._events: "asyncio.Queue[Optional[Dict[str, Any]]]" = asyncio.Queue()
        self._pending: Dict[str, "asyncio.Future[Dict[str, Any]]"] = {}
        self._next_id = 0
        self._reader: Optional["asyncio.Task[None]"] = None
        self._closing = False
        self._ended = False

    async def __aenter__(self) -> "Playback":
        await self._connect()
        await self._control(self._play)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Dict[str, Any]]:
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def pause(self) -> Dict[str, Any]:
        return await self._control({"action": "pause"})

    async def resume(self) -> Dict[str, Any]:
        return await self._control({"action": "resume"})

    async def seek(self, to: Time) -> Dict[str, Any]:
        return await self._control({"action": "seek", "to": _iso(to)})

    async def speed(self, speed: float) -> Dict[str, Any]:
        return await self._control({"action": "speed", "speed": speed})

    async def stop(self) -> Dict[str, Any]:
        return await self._control({"action": "stop"})

    async def status(self) -> Dict[str, Any]:
        await self._control({"action": "status"})
        return self.state or {}

    @property
    def held(self) -> int:
        """Messages received ahead of their due and not yet handed on (lead mode)."""
        return len(self._held)

    async def close(self) -> None:
        """Closes the connection; what is held ahead of its due is dropped."""
        self._closing = True
        self._drop_held()
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._events.put_nowait(None)

    async def _connect(self) -> None:
        query: Dict[str, Any] = {"channel": self._channels}
        if self.session:
            query["session"] = self.session
        if self.last_seq is not None:
            query["lastSeq"] = str(self.last_seq)
        if self.lead:
            query["lead"] = f"{self.lead:g}"
        self._skew.reset()  # perhaps another gateway: estimate its clock again (what is held stays, and is resumed after)
        self._socket = await websockets.connect(self._client._socket_url(query), max_size=None, open_timeout=self._client.timeout)
        hello = json.loads(await self._socket.recv())
        if hello.get("type") == "error":
            raise TivoError(hello["code"], hello["message"])
        self.session = hello["session"]
        self.state = hello.get("state")
        self._reader = asyncio.ensure_future(self._read(self._socket))

    async def _control(self, message: Dict[str, Any]) -> Dict[str, Any]:
        self._next_id += 1
        identifier = f"py-{self._next_id}"
        future: "asyncio.Future[Dict[str, Any]]" = asyncio.get_running_loop().create_future()
        self._pending[identifier] = future
        await self._socket.send(json.dumps({**message, "id": identifier}))
        return await asyncio.wait_for(future, self._client.timeout)

    async def _read(self, socket: Any) -> None:
        try:
            async for frame in socket:
                if not self._handle(json.loads(frame)):
                    return
        except websockets.ConnectionClosed:
            pass
        if not self._closing and not self._ended:
            # Dropped: rejoin the same session after the last seq received; the session replays what was missed.
            await asyncio.sleep(0.2)
            try:
                await self._connect()
            except (OSError, websockets.WebSocketException, TivoError):
                self._events.put_nowait(None)

    def _handle(self, message: Dict[str, Any]) -> bool:
        """Acts on one message from the gateway (or from the jitter buffer at its due); False when the playback is over."""
        kind = message.get("type")
        if kind == "batch":
            # Lead mode: messages sent ahead of their due, with the gateway's clock (see _ClockOffset).
            now = message.get("now")
            if isinstance(now, (int, float)) and not isinstance(now, bool):
                self._skew.observe(now, _wall_ms(), time.monotonic() * 1000.0)
            for held in message.get("messages", []):
                self._hold(held)
            return True
        if kind == "recall":
            # A control cut the course at `after`: what is held due after it will not happen.
            after = message["after"]
            self._held = [h for h in self._held if not h[0] > after]
            heapq.heapify(self._held)
            self._arm(reset=True)
            return True
        if kind == "event":
            self._received(message)
            self._events.put_nowait(message)
        elif kind == "state":
            self.state = message
            if message.get("status") == "ended" and not message.get("loop"):
                self._ended = True
                self._events.put_nowait(None)
        elif kind in ("ack", "error"):
            future = self._pending.pop(str(message.get("id")), None)
            if future is not None and not future.done():
                if kind == "ack":
                    future.set_result(message)
                else:
                    future.set_exception(TivoError(message["code"], message["message"]))
            elif kind == "error" and message.get("code") not in ("store_unavailable",):
                self._ended = True
                self._drop_held()
                self._events.put_nowait(None)
                return False
        return True

    def _received(self, message: Dict[str, Any]) -> None:
        """Counts an event's seq as received (held or not: a reconnect resumes after it)."""
        seq = message.get("seq", 0)
        if seq > 0 and not message.get("snapshot"):
            self.last_seq = max(self.last_seq or 0, seq)

    def _hold(self, message: Dict[str, Any]) -> None:
        if message.get("type") == "event":
            self._received(message)
        due = message.get("due")
        if not isinstance(due, (int, float)):
            self._handle(message)  # the protocol gives every batched message a due; one without is handed on at once
            return
        heapq.heappush(self._held, (due, next(self._arrivals), message))
        self._arm(reset=False)

    def _arm(self, reset: bool) -> None:
        """Sets the timer for the earliest held message (again when `reset`: a recall may have removed it)."""
        if not self._held:
            self._cancel_release()
            return
        at = self._held[0][0] - (self._skew.value or 0) - 1  # a millisecond early: the loop's timers fire late, not early
        if not reset and self._release_for is not None and self._release_for <= at:
            return
        self._cancel_release()
        loop = asyncio.get_running_loop()
        self._release_for = at
        self._release = loop.call_at(loop.time() + max(0.0, at - _wall_ms()) / 1000.0, self._release_held)

    def _release_held(self) -> None:
        self._release = self._release_for = None
        until = _wall_ms() + (self._skew.value or 0) + RELEASE_EARLY_MS
        while self._held and self._held[0][0] <= until:
            _, _, message = heapq.heappop(self._held)
            if not self._handle(message):
                return
        self._arm(reset=False)

    def _cancel_release(self) -> None:
        if self._release is not None:
            self._release.cancel()
        self._release = self._release_for = None

    def _drop_held(self) -> None:
        self._held.clear()
        self._cancel_release()
