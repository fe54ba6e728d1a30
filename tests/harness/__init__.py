"""The test harness: a real v1.20.2 control plane (`ControlPlane`) and a simulated node (`NodeSimulator`)."""

from .apiclient import ApiClient, ApiError
from .controlplane import ControlPlane, ControlPlaneError, wait_until
from .nodesim import NodeSimulator

__all__ = ["ApiClient", "ApiError", "ControlPlane", "ControlPlaneError", "NodeSimulator", "wait_until"]
