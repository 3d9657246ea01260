_instruments = ("httpx >= 0.18",)
