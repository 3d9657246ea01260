_instruments = ("openfeature-sdk >= 0.7",)
