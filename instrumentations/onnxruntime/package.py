_instruments = ("onnxruntime >= 1.16",)
