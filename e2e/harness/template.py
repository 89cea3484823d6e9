"""template.yaml, read once for everything the local stand-ins must copy from the deployment:
the queues' redrive settings, the state machine's type and substitutions, parameter defaults.

Reading the values instead of repeating them keeps the tests honest when the template
changes. PyYAML's safe loader refuses CloudFormation's short-form tags (!Ref, !GetAtt, ...),
so they are read as one-key mappings {"!Ref": value}.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from .common import ASL_PATH, REPO, TEMPLATE_PATH, HarnessError

# The wait loop's DefinitionUri, as template.yaml writes it.
WAIT_LOOP_URI = ASL_PATH.relative_to(REPO).as_posix()


class _CfnLoader(yaml.SafeLoader):
    """A safe loader that also accepts the template's intrinsic-function tags."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def template_text() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _parsed(text: str) -> dict:
    return yaml.load(text, Loader=_CfnLoader)


def template() -> dict:
    """template.yaml as a dict (intrinsic functions as {"!Name": value}); re-read when the
    file changes, cached otherwise."""
    return _parsed(template_text())


def resource_properties(name: str) -> dict:
    """Properties of one resource, by logical id."""
    try:
        return template()["Resources"][name]["Properties"]
    except KeyError:
        raise HarnessError(f"template.yaml: no resource {name} with Properties") from None


def template_queue_settings() -> dict[str, Any]:
    """The check queue's settings: VisibilityTimeout, MessageRetentionPeriod, and its
    RedrivePolicy's maxReceiveCount and deadLetterTargetArn."""
    props = resource_properties("CheckQueue")
    redrive = props.get("RedrivePolicy") or {}
    if "maxReceiveCount" not in redrive:
        raise HarnessError("template.yaml: CheckQueue has no RedrivePolicy maxReceiveCount")
    settings = {k: int(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod") if k in props}
    settings["maxReceiveCount"] = int(redrive["maxReceiveCount"])
    settings["deadLetterTargetArn"] = redrive.get("deadLetterTargetArn")
    return settings


def queue_retention(name: str) -> int:
    """MessageRetentionPeriod of a queue resource (SQS's default, 4 days, when unset)."""
    return int(resource_properties(name).get("MessageRetentionPeriod", 345600))


def state_machine_properties(definition_uri: str = WAIT_LOOP_URI) -> dict:
    """The state machine resource whose DefinitionUri is ``definition_uri`` (the wait loop by
    default): Type, DefinitionUri, DefinitionSubstitutions, ..."""
    machines = [
        r["Properties"]
        for r in template()["Resources"].values()
        if r.get("Type") == "AWS::Serverless::StateMachine" and r.get("Properties", {}).get("DefinitionUri") == definition_uri
    ]
    if len(machines) != 1:
        raise HarnessError(f"template.yaml: expected one AWS::Serverless::StateMachine with DefinitionUri {definition_uri}, found {len(machines)}")
    return machines[0]


def parameter_default(name: str) -> Any:
    """The Default of a template parameter: what a deployment that sets nothing gets."""
    try:
        return template()["Parameters"][name]["Default"]
    except KeyError:
        raise HarnessError(f"template.yaml: no parameter {name} with a Default") from None


def definition_substitutions(
    function_arn: str, overrides: dict[str, Any] | None = None, definition_uri: str = WAIT_LOOP_URI
) -> dict[str, str]:
    """A state machine's DefinitionSubstitutions as a deployment with default parameters fills
    them: ``overrides`` by name first, then a !Ref to a parameter gives its Default, the
    function's !GetAtt ...Arn gives ``function_arn``, a literal stays as it is. Anything else
    (a queue, a bucket, another state machine) has no local value unless overridden."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(_substitution_specs(definition_uri)))
    if unknown:
        raise HarnessError(f"template.yaml: {definition_uri} has no DefinitionSubstitutions {unknown}")
    return {
        name: str(overrides[name]) if name in overrides else _substitution_value(name, spec, function_arn)
        for name, spec in _substitution_specs(definition_uri).items()
    }


def _substitution_specs(definition_uri: str) -> dict:
    return state_machine_properties(definition_uri).get("DefinitionSubstitutions") or {}


def _substitution_value(name: str, spec: Any, function_arn: str) -> str:
    """The local value of one substitution that the caller did not override."""
    parameters = template().get("Parameters", {})
    if isinstance(spec, dict) and spec.get("!Ref") in parameters:
        return str(parameter_default(spec["!Ref"]))
    if isinstance(spec, dict) and spec.get("!GetAtt") == "KendraWaiterFunction.Arn":
        return function_arn
    if isinstance(spec, (str, int, float)):
        return str(spec)
    raise HarnessError(f"template.yaml: DefinitionSubstitutions {name}: {spec!r} has no local value; pass {name}=...")
