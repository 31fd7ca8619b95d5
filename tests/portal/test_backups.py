"""Backups in the portal: "Back up now" on the instance page, the backup's restore into a new instance, its
deletion, a schedule with its next run in the reader's time and the API's refusal shown at its field; a manager
reads them and gets no form. Checked against the simulated Cinder."""

import pytest

from nodeconductor.iaas.models import Backup, BackupSchedule, Instance, InstanceState
from tests.portal.test_floating_ips import text_of

pytestmark = pytest.mark.django_db(transaction=True)


def online(iaas, login, browser, roles, **fields):
    """Create web-1 through the portal as the administrator (typing `fields` too) and wait until it is Online on
    its page."""
    login(roles.users["admin"])
    browser.go(f"#/projects/{roles.project.uuid}/new")
    browser.fill("hostname", "web-1")
    browser.choose("template", iaas.template.name)
    browser.choose("flavor", iaas.flavor.name)
    for name, value in fields.items():
        browser.fill(name, value)
    browser.click("button[type=submit]")
    browser.wait(lambda: browser.find("h1").text.startswith("web-1"), message="the instance page")
    browser.wait(lambda: browser.find("h1 .badge").text == "Online", 60, "Online")
    return Instance.objects.get(hostname="web-1")


def test_back_up_restore_and_delete_from_the_instance_page(iaas, roles, login, browser):
    source = online(iaas, login, browser, roles)
    browser.wait_text("No backups yet.", css="#backups")
    assert "crash-consistent" in text_of(browser, "#backups")
    browser.fill("description", "before the upgrade", form="#backups form[aria-label='Back up now']")
    browser.click("[data-action='backup']")
    browser.wait_text("Ready", css="#backups li.backup", timeout=60)
    backup = Backup.objects.get()
    assert backup.description == "before the upgrade" and backup.state == "ready"
    assert {s["id"] for s in iaas.env.sim.snapshots()} == set(backup.snapshot_ids)

    other = iaas.cloud.flavors.exclude(pk=iaas.flavor.pk).order_by("ram").first()
    restore = f"#backups li[data-uuid='{backup.uuid}'] form"
    browser.choose("flavor", other.name, form=restore)
    browser.fill("hostname", "web-2", form=restore)
    browser.click(f"{restore} [data-action='restore']")
    browser.wait(lambda: browser.find("h1").text.startswith("web-2"), 30, "the restored instance's page")
    browser.wait(lambda: browser.find("h1 .badge").text == "Online", 60, "the restored instance Online")
    restored = Instance.objects.get(hostname="web-2")
    volumes = {v["id"]: v for v in iaas.env.sim.volumes()}
    assert volumes[restored.system_volume_id]["snapshot_id"] == backup.system_snapshot_id

    browser.go(f"#/instances/{source.uuid}")
    browser.wait_text("Ready", css="#backups li.backup")
    browser.click(f"#backups li[data-uuid='{backup.uuid}'] [data-action='delete-backup']")
    browser.wait_text("No backups yet.", css="#backups", timeout=60)
    assert not Backup.objects.exists() and iaas.env.sim.snapshots() == []
    assert browser.console_errors() == []


def test_a_schedule_shows_its_next_run_and_the_apis_refusal_at_its_field(iaas, roles, login, browser):
    source = online(iaas, login, browser, roles)
    form = "#backups form[aria-label='New backup schedule']"
    browser.fill("schedule", "*/15 * * * *", form=form)
    browser.click(f"{form} [data-action='add-schedule']")
    browser.wait(lambda: browser.field_error("schedule", form=form), message="the cron's error at its field")
    assert browser.field_error("schedule", form=form) == ("The schedule fires 4 times an hour; backups run at most "
                                                          "hourly, so give one minute, e.g. '0 * * * *'.")  # fmt: skip
    browser.fill("schedule", "30 3 * * *", form=form)
    browser.fill("timezone", "Europe/Tallinn", form=form)
    browser.click(f"{form} [data-action='add-schedule']")
    browser.wait_text("30 3 * * * (Europe/Tallinn) Active", css="#backups li.schedule")
    schedule = BackupSchedule.objects.get(instance=source)
    assert (schedule.schedule, schedule.timezone, schedule.retention_time, schedule.maximal_number_of_backups) == (
        "30 3 * * *", "Europe/Tallinn", 7, 7)
    # The next run in the reader's time: what the browser's own clock says of next_trigger_at.
    local = browser.driver.execute_script("return new Date(arguments[0]).toLocaleString()",
                                          schedule.next_trigger_at.isoformat())  # fmt: skip
    assert text_of(browser, "#backups .next-run") == f"· next run {local}"
    browser.click("#backups [data-action='deactivate']")
    browser.wait_text("Inactive", css="#backups li.schedule")
    assert not BackupSchedule.objects.get().is_active


def test_a_manager_reads_backups_and_gets_no_form(iaas, roles, login, browser):
    instance = Instance.objects.create(
        hostname="managed", template=iaas.template, cloud_project_membership=iaas.membership, flavor=iaas.flavor,
        system_volume_size=1024, data_volume_size=1024, backend_id="s-1",
    )  # fmt: skip
    Instance.objects.filter(pk=instance.pk).update(state=InstanceState.OFFLINE)
    backup = Backup.objects.create(instance=instance, membership=iaas.membership, description="nightly",
                                   metadata={"hostname": "managed"})  # fmt: skip
    Backup.objects.filter(pk=backup.pk).update(state="ready")
    login(roles.users["manager"])
    browser.go(f"#/instances/{instance.uuid}")
    browser.wait_text("nightly", css="#backups")
    assert not browser.find("[data-action='backup']").is_enabled()
    assert text_of(browser, "#reason-backup") == "Only project administrators and staff operate instances."
    assert not browser.all(f"{'#backups'} form[aria-label='New backup schedule']")
    assert text_of(browser, f"#delete-{backup.uuid}-reason") == ("Only project administrators and staff back up, "
                                                                 "restore and delete backups.")  # fmt: skip
