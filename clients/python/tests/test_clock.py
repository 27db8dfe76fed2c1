"""The client's estimate of the gateway's clock, from the ``now`` of lead frames (no gateway needed)."""

from tivo._client import _ClockOffset


def test_keeps_the_quickest_transit_of_the_window():
    clock = _ClockOffset(window_ms=1_000)
    clock.observe(server_now=10_000, wall=9_000 + 5, elapsed=0)  # the gateway 1 s ahead, 5 ms in transit
    clock.observe(server_now=10_100, wall=9_100 + 80, elapsed=100)  # a frame 80 ms in transit
    assert clock.value == 995
    clock.observe(server_now=10_200, wall=9_200 + 2, elapsed=200)  # a quicker one
    assert clock.value == 998


def test_follows_a_gateway_clock_stepped_back_within_two_windows():
    clock = _ClockOffset(window_ms=1_000)
    clock.observe(server_now=10_000, wall=9_000, elapsed=0)
    assert clock.value == 1_000
    # The gateway's clock is stepped back a second: its frames now read as this clock does.
    seen = []
    for elapsed in range(100, 2_600, 100):
        clock.observe(server_now=9_000 + elapsed, wall=9_000 + elapsed, elapsed=elapsed)
        seen.append((elapsed, clock.value))
    assert all(value == 1_000 for elapsed, value in seen if elapsed < 1_000), "a window's best sample is kept for the window"
    assert all(value == 0 for elapsed, value in seen if elapsed >= 2_000), f"still the old clock: {seen}"


def test_a_gap_of_a_whole_window_forgets_the_old_samples():
    clock = _ClockOffset(window_ms=1_000)
    clock.observe(server_now=10_000, wall=9_000, elapsed=0)
    clock.observe(server_now=20_000, wall=20_000, elapsed=5_000)  # the next frame five windows later
    assert clock.value == 0


def test_a_step_of_this_machines_wall_clock_does_not_stall_the_windows():
    clock = _ClockOffset(window_ms=1_000)
    clock.observe(server_now=10_000, wall=10_000, elapsed=0)
    # This machine's wall clock jumps an hour ahead: the offset is −1 h from the next frame on, whatever the windows.
    clock.observe(server_now=10_100, wall=10_100 + 3_600_000, elapsed=100)
    assert clock.value == 0, "the better sample of this window still counts"
    for elapsed in range(200, 2_200, 100):
        clock.observe(server_now=10_000 + elapsed, wall=10_000 + elapsed + 3_600_000, elapsed=elapsed)
    assert clock.value == -3_600_000


def test_a_new_connection_estimates_again():
    clock = _ClockOffset()
    clock.observe(server_now=10_000, wall=9_000, elapsed=0)
    clock.reset()
    assert clock.value is None
    clock.observe(server_now=10_000, wall=10_500, elapsed=1)
    assert clock.value == -500
