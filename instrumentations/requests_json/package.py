_instruments = ("requests >= 2.0",)
