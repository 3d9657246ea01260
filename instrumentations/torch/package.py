_instruments = ("torch >= 2.1",)
