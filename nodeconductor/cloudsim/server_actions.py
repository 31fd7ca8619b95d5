"""Nova server actions (stop/start/reboot/resize/confirm/revert, the admin's os-resetState) and delete."""

from .core import ApiError, isotime
from .server_networks import release
from .servers import POWER, conflict
from .volumes_model import finish_detach, has_snapshots


def action_operation(req):
    """Name a POST /servers/{id}/action call after its action, e.g. compute.server_stop."""
    body = req.body if isinstance(req.body, dict) else {}
    action = next((k for k in body if k in ACTIONS), None)
    return "compute." + ACTIONS[action] if action else "compute.server_action"


ACTIONS = {"os-stop": "server_stop", "os-start": "server_start", "reboot": "server_reboot",
           "resize": "server_resize", "confirmResize": "server_confirm_resize",
           "revertResize": "server_revert_resize", "os-resetState": "server_reset_state",
           "os-getConsoleOutput": "server_console_output"}
# What nova.virt.fake.FakeDriver.get_console_output answers (mini-openstack runs it): the simulator says the same.
FAKE_CONSOLE = "FAKE CONSOLE OUTPUT\nANOTHER\nLAST LINE"


class ServerActionsMixin:
    """Timed server state changes; each action is its own operation name for faults and call counts."""

    def server_action_routes(self, v):
        """Register POST /servers/{id}/action under the version prefix pattern `v`."""
        self.route("POST", v + "/servers/(?P<id>[^/]+)/action", action_operation, self.server_action)

    def server_action(self, req):
        """POST /servers/{id}/action: dispatch on the single key of the body."""
        body = req.body if isinstance(req.body, dict) else {}
        action = next((k for k in body if k in ACTIONS), None)
        if action is None:
            raise ApiError(400, f"There is no such action: {next(iter(body), None)}")
        operation = "compute." + ACTIONS[action]
        server = self.get_server(req)
        error = self.state.faults.take(operation, modes=("error_state",)) is not None
        return getattr(self, "_" + ACTIONS[action])(req, server, body[action], error)

    def _server_console_output(self, req, s, arg, error):
        """os-getConsoleOutput: the last `length` lines (all for null), cut as nova-compute's _tail_log cuts them:
        lines[-length:], so -1 (which the API allows) drops the first line, as on mini-openstack."""
        length = (arg or {}).get("length") if isinstance(arg, dict) else None
        try:
            length = None if length is None else int(length)
        except (TypeError, ValueError):
            raise ApiError(400, f"Invalid input for field/attribute length. Value: {length}. '{length}' is not "
                                "valid under any of the given schemas") from None
        if length is not None and length < -1:
            raise ApiError(400, f"Invalid input for field/attribute length. Value: {length}. {length} is less than "
                                "the minimum of -1")
        if s["vm_state"] == "building":
            raise ApiError(409, f"Instance {s['id']} is not ready")
        if error:
            raise ApiError(500, "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and "
                                "attach the Nova API log if possible.")
        lines = FAKE_CONSOLE.split("\n")
        if length is not None:
            lines = lines[-length:] if length else []
        return self.ok({"output": "\n".join(lines)})

    def _busy(self, action, s):
        if s["task_state"] is not None:
            raise conflict(action, s, "task_state")

    def _settle(self, sid, error, **changes):
        s = self.state.servers.get(sid)
        if s is None:
            return None
        s["updated"] = isotime()
        if error:
            s.update(vm_state="error", task_state=None,
                     fault={"code": 500, "created": isotime(), "message": "Injected fault (simulated)."})
            return s
        s.update(changes)
        return s

    def _server_stop(self, req, s, _arg, error):
        if s["vm_state"] not in ("active", "error"):
            raise conflict("stop", s)
        self._busy("stop", s)
        s["task_state"] = "powering-off"
        self.state.later("server_stop", self._settle, s["id"], error, vm_state="stopped", task_state=None,
                         power_state=POWER["stopped"])
        return self.ok(None, 202)

    def _server_start(self, req, s, _arg, error):
        if s["vm_state"] != "stopped":
            raise conflict("start", s)
        self._busy("start", s)
        s["task_state"] = "powering-on"
        self.state.later("server_start", self._settle, s["id"], error, vm_state="active", task_state=None,
                         power_state=POWER["active"])
        return self.ok(None, 202)

    def _server_reboot(self, req, s, arg, error):
        hard = str((arg or {}).get("type", "SOFT")).upper() == "HARD"
        allowed = ("active", "stopped", "error") if hard else ("active",)
        if s["vm_state"] not in allowed:
            raise conflict("reboot", s)
        if s["task_state"] is not None and not (hard and s["task_state"] in ("rebooting", "reboot_started")):
            raise conflict("reboot", s, "task_state")
        s["task_state"] = "reboot_started_hard" if hard else "reboot_started"
        self.state.later("server_reboot", self._settle, s["id"], error, vm_state="active", task_state=None,
                         power_state=POWER["active"])
        return self.ok(None, 202)

    def _server_reset_state(self, req, s, arg, error):
        """os-resetState (admin): vm_state active or error at once, no task, and no fault added."""
        if not req.is_admin:
            raise ApiError(403, "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.")
        state = (arg or {}).get("state") if isinstance(arg, dict) else None
        if state not in ("active", "error"):
            raise ApiError(400, f"Invalid input for field/attribute state. Value: {state}. {state!r} is not one of "
                                "['active', 'error']")
        s.update(vm_state=state, task_state=None, updated=isotime())
        return self.ok(None, 202)

    def _server_resize(self, req, s, arg, error):
        flavor_ref = (arg or {}).get("flavorRef")
        if flavor_ref is None:
            raise ApiError(400, "Invalid input for field/attribute resize. Value: {}. 'flavorRef' is a required "
                                "property")
        if s["vm_state"] not in ("active", "stopped"):
            raise conflict("resize", s)
        self._busy("resize", s)
        flavor = self.get_flavor(flavor_ref, status=400)
        if flavor["id"] == s["flavor"]["id"]:
            raise ApiError(400, "When resizing, instances must change flavor!")
        if s["image_id"] is None and False:
            pass
        if flavor["disk"] and s["image_id"] and flavor["disk"] < s["flavor"]["disk"]:
            raise ApiError(400, "Resize error: Unable to resize disk down.")
        self._check_quota(s["project_id"], flavor, old_flavor=s["flavor"])
        s["task_state"] = "resize_prep"
        s["pre_resize_vm_state"] = s["vm_state"]
        self.state.later("server_resize", self._resize_step, s["id"], dict(flavor), error, 1)
        return self.ok(None, 202)

    def _resize_step(self, sid, flavor, error, step):
        s = self.state.servers.get(sid)
        if s is None or s["task_state"] not in ("resize_prep", "resize_migrating", "resize_finish"):
            return
        if step < 3:
            s["task_state"] = ("resize_migrating", "resize_finish")[step - 1]
            s["updated"] = isotime()
            self.state.scheduler.schedule(self.state.delays["server_resize"] / 3, self._resize_step, sid, flavor,
                                          error, step + 1)
            return
        if self._settle(sid, error) and not error:
            s.update(vm_state="resized", task_state=None, old_flavor=s["flavor"], flavor=flavor,
                     power_state=POWER["active"] if s["pre_resize_vm_state"] == "active" else POWER["stopped"])

    def _server_confirm_resize(self, req, s, _arg, error):
        if s["vm_state"] != "resized":
            raise conflict("confirmResize", s)
        self._busy("confirmResize", s)
        back = s["pre_resize_vm_state"] or "active"
        s["confirming"] = True
        self.state.later("server_confirm_resize", self._settle, s["id"], error, vm_state=back, old_flavor=None,
                         task_state=None, power_state=POWER[back], confirming=False)
        return self.ok(None, 204)

    def _server_revert_resize(self, req, s, _arg, error):
        if s["vm_state"] != "resized":
            raise conflict("revertResize", s)
        self._busy("revertResize", s)
        s["task_state"] = "resize_reverting"
        back = s["pre_resize_vm_state"] or "active"
        self.state.later("server_revert_resize", self._settle, s["id"], error, vm_state=back, task_state=None,
                         flavor=s["old_flavor"], old_flavor=None, power_state=POWER[back])
        return self.ok(None, 202)

    # -- delete --------------------------------------------------------------------------------------

    def server_delete(self, req):
        """DELETE /servers/{id}: deleting for a while, then gone; volumes follow delete_on_termination."""
        s = self.get_server(req)
        if s["task_state"] != "deleting":
            s["task_state"] = "deleting"
            error = self.state.faults.take("compute.server_delete", modes=("error_state",)) is not None
            self.state.later("server_delete", self._finish_delete, s["id"], error)
        return self.ok(None, 204)

    def _finish_delete(self, sid, error):
        st = self.state
        s = st.servers.get(sid)
        if s is None:
            return
        if error:
            s.update(vm_state="error", task_state=None,
                     fault={"code": 500, "created": isotime(), "message": "Injected fault (simulated)."})
            return
        for b in s["bdms"]:
            vol = st.volumes.get(b["volume_id"])
            if vol is None:
                continue
            finish_detach(st, vol, sid)
            # Nova asks Cinder to delete the volume; with snapshots Cinder refuses and Nova leaves it available.
            if b["delete_on_termination"] and not has_snapshots(st, vol["id"]):
                vol["status"] = "deleting"
                st.later("volume_delete", st.volumes.pop, vol["id"], None)
        release(st, s)
        del st.servers[sid]
