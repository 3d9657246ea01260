_instruments: tuple[str, ...] = ()
# Either distribution provides the xgboost module (xgboost-cpu: no CUDA libraries);
# the dependency check accepts any of them.
_instruments_any = ("xgboost >= 2.0", "xgboost-cpu >= 2.0")
