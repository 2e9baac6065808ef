"""moto's AWS API emulator as a server process, with the termination lifecycle hook it lacks.

    python -m _moto_server -H 127.0.0.1 -p PORT      # moto.server's own arguments

moto 5.2.5 emulates autoscaling groups, desired capacity and scale-in protection (a scale-in
terminates only unprotected instances), and it stores lifecycle hooks, but it ignores them: a
scale-in terminates its instances at once, and CompleteLifecycleAction is not implemented (an HTTP
500). This adds what AWS documents for a termination hook, and nothing else:

* in a group with an `autoscaling:EC2_INSTANCE_TERMINATING` hook, the instances a scale-in picks
  wait in `Terminating:Wait` (still running, no longer counted in the group's capacity) instead
  of being terminated;
* CompleteLifecycleAction on such an instance (CONTINUE or ABANDON: a terminating instance goes
  either way) terminates it; on an instance with no pending action it fails with AWS's
  `ValidationError: No active Lifecycle Action found with instance ID ...`.

The hook's heartbeat timeout is not emulated (tests complete the action, or check that nothing
does).
"""

from __future__ import annotations

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import FakeAutoScalingGroup
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult

_TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
_WAIT = "Terminating:Wait"
_set_desired_capacity = FakeAutoScalingGroup.set_desired_capacity


def _has_termination_hook(group: FakeAutoScalingGroup) -> bool:
    return any(
        hook.auto_scaling_group_name == group.name and hook.lifecycle_transition == _TERMINATING
        for hook in group.autoscaling_backend.lifecycle_hooks.values()
    )


def set_desired_capacity(self: FakeAutoScalingGroup, new_capacity: int | None) -> None:
    """moto's, except that a scale-in of a hooked group holds its picks in Terminating:Wait
    (picked as moto picks them: the first unprotected instances)."""
    active = self.active_instances()
    if new_capacity is None or new_capacity >= len(active) or not _has_termination_hook(self):
        _set_desired_capacity(self, new_capacity)
        return
    self.desired_capacity = new_capacity
    for state in [s for s in active if not s.protected_from_scale_in][: len(active) - new_capacity]:
        state.lifecycle_state = _WAIT


def complete_lifecycle_action(self: AutoScalingResponse) -> ActionResult:
    backend = self.autoscaling_backend
    name = self._get_param("AutoScalingGroupName")
    hook = self._get_param("LifecycleHookName")
    instance_id = self._get_param("InstanceId")
    group = backend.autoscaling_groups.get(name)
    if group is None or f"{name}_{hook}" not in backend.lifecycle_hooks:
        raise ValidationError(f"No Lifecycle Hook named {hook} found for group {name}")
    for state in group.instance_states:
        if state.instance.id == instance_id and state.lifecycle_state == _WAIT:
            group.instance_states.remove(state)
            backend.ec2_backend.terminate_instances([instance_id])
            return EmptyResult()
    raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")


FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity  # type: ignore[method-assign]
AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action  # type: ignore[attr-defined]


if __name__ == "__main__":
    from moto.server import main

    main()
