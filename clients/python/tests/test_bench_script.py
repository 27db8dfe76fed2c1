"""bench/python/lead_clients.py, the script behind the Python client's figures in docs/performance.md, still runs."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "python" / "lead_clients.py"


def test_the_lead_benchmark_script_prints_its_figures(gateway):
    run = subprocess.run([sys.executable, str(SCRIPT), "--url", gateway, "--sessions", "2", "--seconds", "1.5"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    figures = re.fullmatch(r"sessions 2 lead 500 ms: (\d+) events, \|hand-over − due\| p50 [\d.]+ ms p99 [\d.]+ ms max [\d.]+ ms\n",
                           run.stdout)
    assert figures, run.stdout
    assert int(figures.group(1)) > 100, "two sessions at 100 events/s for 1.5 s after the first second"
