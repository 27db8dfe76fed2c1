"""tivo.Client against a real gateway with the demo data: what an analyst would check."""

import asyncio
import json
import time
import urllib.request

import pandas as pd
import pytest

import tivo

WINDOW = ("2016-01-15T14:00:00Z", "2016-01-15T14:10:00Z")


def test_channels_lists_the_demo_channels_with_their_extent(gateway):
    channels = {c["name"]: c for c in tivo.Client(gateway).channels()}
    assert {"taxi", "sensors", "trades", "alerts"} <= set(channels)
    assert channels["taxi"]["count"] == 173428
    assert channels["taxi"]["first"].startswith("2016-01-14T")


def test_events_are_the_windows_rows_and_agree_with_the_histogram(gateway):
    client = tivo.Client(gateway)
    rows = list(client.events("taxi", *WINDOW))
    histogram = client.histogram("taxi", *WINDOW)
    assert len(rows) == histogram["total"] > 100
    times = [pd.Timestamp(r["ts"]) for r in rows]
    assert times == sorted(times)
    assert all(pd.Timestamp(WINDOW[0]) <= t < pd.Timestamp(WINDOW[1]) for t in times)
    assert set(rows[0]) == {"ts", "data"} and "zone" in rows[0]["data"]


def test_paged_events_are_the_same_rows(gateway):
    client = tivo.Client(gateway)
    assert list(client.events("taxi", *WINDOW, page_size=97)) == list(client.events("taxi", *WINDOW))


def test_frame_has_a_utc_ts_column_and_the_payloads_fields(gateway):
    client = tivo.Client(gateway)
    frame = client.frame("taxi", *WINDOW)
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert {"zone", "fare", "passengers"} <= set(frame.columns)
    assert len(frame) == client.histogram("taxi", *WINDOW)["total"]
    assert frame["ts"].is_monotonic_increasing
    assert frame["ts"].iloc[0] >= pd.Timestamp(WINDOW[0])
    first = next(client.events("taxi", *WINDOW))
    assert frame["fare"].iloc[0] == first["data"]["fare"]


def test_unknown_channels_and_bad_windows_raise_the_servers_code(gateway):
    client = tivo.Client(gateway)
    with pytest.raises(tivo.TivoError) as error:
        list(client.events("no-such-channel"))
    assert error.value.code == "unknown_channel" and error.value.status == 404
    with pytest.raises(tivo.TivoError) as error:
        list(client.events("taxi", WINDOW[1], WINDOW[0]))
    assert error.value.code == "bad_request"


def test_play_delivers_every_event_of_the_window_in_order_at_its_due(gateway):
    async def main():
        client = tivo.Client(gateway)
        expected = [r["ts"] for r in client.events("taxi", "2016-01-15T14:32:24Z", "2016-01-15T14:33:24Z")]
        received = []
        async with client.play("taxi", "2016-01-15T14:32:24Z", "2016-01-15T14:33:24Z", speed=30) as playback:
            async for event in playback:
                received.append(event)
        assert [e["ts"] for e in received] == expected
        assert [e["seq"] for e in received] == list(range(1, len(expected) + 1))
        assert all(e["due"] > 0 for e in received)

    asyncio.run(main())


def test_controls_pause_seek_and_speed_act_on_the_session(gateway):
    async def main():
        client = tivo.Client(gateway)
        async with client.play("taxi", *WINDOW, speed=5) as playback:
            events = playback.__aiter__()
            await events.__anext__()
            await playback.pause()
            assert (await playback.status())["status"] == "paused"
            await playback.seek("2016-01-15T14:05:00Z")
            await playback.speed(20)
            await playback.resume()
            state = await playback.status()
            assert state["status"] == "playing" and state["speed"] == 20
            # Events from before the seek may still wait in the iterator. The seek's snapshot (the last value before
            # 14:05) marks where the new position starts on the socket; the next event is at 14:05 or later.
            after = await events.__anext__()
            while not after.get("snapshot"):
                after = await events.__anext__()
            assert pd.Timestamp(after["ts"]) < pd.Timestamp("2016-01-15T14:05:00Z")
            after = await events.__anext__()
            assert pd.Timestamp(after["ts"]) >= pd.Timestamp("2016-01-15T14:05:00Z")
            with pytest.raises(tivo.TivoError) as error:
                await playback.speed(0)
            assert error.value.code == "bad_request"

    asyncio.run(main())


def test_a_dropped_connection_resumes_by_last_seq_with_nothing_missing_or_twice(gateway):
    async def main():
        client = tivo.Client(gateway)
        expected = len(list(client.events("taxi", "2016-01-15T14:32:24Z", "2016-01-15T14:33:24Z")))
        seqs = []
        async with client.play("taxi", "2016-01-15T14:32:24Z", "2016-01-15T14:33:24Z", speed=15) as playback:
            async for event in playback:
                seqs.append(event["seq"])
                if len(seqs) == 5:
                    playback._socket.transport.abort()  # the network drops the connection
        assert seqs == list(range(1, expected + 1))

    asyncio.run(main())


@pytest.mark.parametrize("lead", [tivo.DEFAULT_LEAD_MS, 0])
def test_events_are_handed_on_at_their_due_never_early_held_ahead_only_with_a_lead(gateway, lead):
    async def main():
        client = tivo.Client(gateway)
        expected = len(list(client.events("taxi", "2016-01-15T14:32:24Z", "2016-01-15T14:33:24Z")))
        early, most_held, seqs = [], 0, []
        async with client.play("taxi", "2016-01-15T14:32:24Z", "2016-01-15T14:33:24Z", speed=30, lead=lead) as playback:
            assert playback.lead == lead
            async for event in playback:
                now = time.time() * 1000
                seqs.append(event["seq"])
                most_held = max(most_held, playback.held)
                if now < event["due"] - 1:  # released at most RELEASE_EARLY_MS (0.5) early, read on this clock
                    early.append(round(event["due"] - now, 2))
        assert seqs == list(range(1, expected + 1))
        assert early == [], f"handed on before their due by these many ms: {early[:10]}"
        if lead:
            assert most_held > 10, "with a lead the gateway sends events ahead and the client holds them"
        else:
            assert most_held == 0, "without one each event comes at its due and nothing is held"

    asyncio.run(main())


def test_with_a_lead_nothing_due_after_a_pause_is_handed_on(gateway):
    async def main():
        client = tivo.Client(gateway)
        async with client.play("taxi", *WINDOW, speed=30) as playback:
            events = playback.__aiter__()
            await events.__anext__()
            for _ in range(100):  # until a frame sent ahead is held (the data has its quiet stretches)
                if playback.held > 0:
                    break
                await asyncio.sleep(0.05)
            assert playback.held > 0
            await playback.pause()
            paused_at = time.time() * 1000
            late = []

            async def drain():
                async for event in events:
                    late.append(event)

            drainer = asyncio.ensure_future(drain())
            await asyncio.sleep(1.0)  # longer than the lead: whatever was held would have fallen due
            drainer.cancel()
            # The pause takes effect at its cut (20 ms after the grain handled it); the gateway's recall drops what
            # the client held past it, so nothing due later comes out (without the recall: up to the lead's 500 ms).
            after_cut = [e["due"] - paused_at for e in late if e["due"] > paused_at + 100]
            assert after_cut == [], f"handed on after the pause, due this many ms after it: {after_cut[:10]}"
            assert playback.held == 0
            assert (await playback.status())["status"] == "paused"

    asyncio.run(main())


@pytest.mark.parametrize("lead", [-1, 1001, True, "500", None])
def test_a_lead_out_of_range_is_refused_before_connecting(gateway, lead):
    with pytest.raises(ValueError, match="lead must be a number of milliseconds from 0 to 1000"):
        tivo.Client(gateway).play("taxi", *WINDOW, lead=lead)
