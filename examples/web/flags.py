"""The examples' feature flag: ``new-checkout``, rolled out to ``rollout`` percent of users.

An OpenFeature in-memory provider stands for a flag service. The rollout
percentage comes from the evaluation context so the traffic script can break
it: ``rollout=0`` serves ``off`` to everyone, a flag stuck on one variant.
"""

from __future__ import annotations

import zlib

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

FLAG = "new-checkout"


def _rollout(flag: InMemoryFlag[bool], context: EvaluationContext) -> FlagResolutionDetails[bool]:
    percent = int(str(context.attributes.get("rollout", 50)))
    bucket = zlib.crc32(str(context.targeting_key).encode()) % 100
    variant = "on" if bucket < percent else "off"
    return FlagResolutionDetails(
        value=flag.variants[variant], variant=variant, reason=Reason.TARGETING_MATCH
    )


def install() -> None:
    flag = InMemoryFlag(
        default_variant="off",
        variants={"on": True, "off": False},
        context_evaluator=_rollout,
    )
    api.set_provider(InMemoryProvider({FLAG: flag}))


def new_checkout(user: int, rollout: int) -> bool:
    client = api.get_client()
    context = EvaluationContext(targeting_key=str(user), attributes={"rollout": rollout})
    return client.get_boolean_value(FLAG, False, context)
