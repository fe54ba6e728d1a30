"""The few validations of the API server the embedded local cluster repeats: those a server-side apply walks
into, where the merge leaves something a patch would not.

- **A null where a custom resource's schema wants a value.** The v1.20 server's apply leaves a map or list it
  emptied by removals as ``null``; the CRD's validation then refuses it ("must be of type object").
- **A volume with two sources.** Switching a volume from one source to another (``emptyDir`` → ``configMap``)
  in an applied configuration keeps the old source, which the applier never owned when it was empty; the
  server refuses the result ("may not specify more than 1 volume type"), naming every source after the first
  in the order its validation checks them.

Each returns the server's message (after gitapply's "the server rejected the object (fields: …)"), or "".
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

VOLUME_SOURCES = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs", "iscsi",
    "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte", "downwardAPI", "fc",
    "flexVolume", "configMap", "azureFile", "vsphereVolume", "photonPersistentDisk", "portworxVolume",
    "azureDisk", "storageos", "projected", "scaleIO", "csi", "ephemeral")
POD_SPECS = {
    "Pod": ("spec",), "PodTemplate": ("template", "spec"), "CronJob": ("spec", "jobTemplate", "spec", "template",
                                                                        "spec"),
    **{kind: ("spec", "template", "spec") for kind in
       ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController")}}


def rejected(kind: str, group: str, name: str, problems: list[tuple[str, str]]) -> str:
    """The server's refusal of an object for ``(field, reason)`` problems."""
    causes = [f"{field}: {reason}" for field, reason in problems]
    listed = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
    fields = ", ".join(sorted(field for field, _ in problems))
    qualified = f"{kind}.{group}" if group else kind
    return f'the server rejected the object (fields: {fields}): {qualified} "{name}" is invalid: {listed}'


def null_problems(obj: Any, schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, str]]:
    """``(field, reason)`` for each null in a custom resource where its ``schema`` wants a value."""
    if isinstance(obj, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, value in obj.items():
            inner = properties.get(key, additional if isinstance(additional, Mapping) else None)
            if inner is None or (path == "" and key == "metadata"):
                continue
            where = f"{path}.{key}" if path else key
            if value is None and inner.get("type") and not inner.get("nullable"):
                yield where, f'Invalid value: "null": {where} in body must be of type {inner["type"]}: "null"'
            yield from null_problems(value, inner, where)
    elif isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(obj):
            yield from null_problems(item, schema["items"], f"{path}[{index}]")


def volume_problems(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field, reason)`` for each volume source beyond a volume's first, in a kind with a pod spec."""
    path = POD_SPECS.get(str(obj.get("kind", "")))
    spec: Any = obj
    for part in path or ("-",):
        spec = spec.get(part) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return []
    found = []
    for index, volume in enumerate(spec.get("volumes") or ()):
        sources = [name for name in VOLUME_SOURCES if isinstance(volume, dict) and volume.get(name) is not None]
        where = ".".join(path or ()) + f".volumes[{index}]"
        found += [(f"{where}.{name}", "Forbidden: may not specify more than 1 volume type") for name in sources[1:]]
    return found
