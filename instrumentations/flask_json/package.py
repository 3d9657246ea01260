_instruments = ("flask >= 2.2",)
