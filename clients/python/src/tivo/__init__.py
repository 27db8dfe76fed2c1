"""Tivo's Python client: ``tivo.Client(url, token=None)``.

>>> import tivo
>>> client = tivo.Client("http://localhost:8080")
>>> client.channels()                                  # every channel with its extent
>>> df = client.frame("taxi", "2016-01-15T14:00:00Z", "2016-01-15T15:00:00Z")   # a pandas DataFrame
>>> async with client.play("taxi", "2016-01-15T14:32:24Z", "2016-01-15T14:33:24Z", speed=10) as playback:
...     async for event in playback:                   # each event at its due time
...         print(event["ts"], event["data"])
"""

from ._client import DEFAULT_LEAD_MS, Client, Playback, TivoError

__all__ = ["DEFAULT_LEAD_MS", "Client", "Playback", "TivoError"]
__version__ = "0.1.0"
