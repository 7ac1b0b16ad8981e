"""Issue 5: at 85 °C the prompt carries an alert, and it goes once the GPU cools (with hysteresis)."""

from __future__ import annotations

from jarvis_tui.gpu.monitor import GpuMonitor
from jarvis_tui.gpu.settings import GpuSettings
from jarvis_tui.ui.app import JarvisApp
from tests.gpu.gpu_fakes import FakeNvml, m1_gpus
from tests.ui.pilot_helpers import wait_for, wait_ready

SIZE = (160, 48)


def alert_text(app: JarvisApp) -> str:
    return str(app.chat.thermal_alert.render())


async def test_a_critical_gpu_puts_an_alert_above_the_prompt_until_it_cools(cluster):
    config, _ = cluster(count=1)
    gpus = m1_gpus()
    app = JarvisApp(config, services=frozenset({"gpu"}), provided_services={})
    app.provided_services["gpu"] = GpuMonitor(GpuSettings(poll_interval_s=0.1), [], app.bus,
                                              nvml_lib=FakeNvml(gpus))
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await wait_for(pilot, lambda: app.services.gpu is not None and app.services.gpu.thermal_status(
            app.services.gpu.local_node).status == "normal", 10, "first GPU poll")
        assert not app.chat.thermal_alert.display

        gpus[3].temperature_c = 91  # a GTX 1660 SUPER goes critical
        await wait_for(pilot, lambda: app.chat.thermal_alert.display, 10, "alert shown")
        text = alert_text(app)
        assert "THERMAL CRITICAL" in text and "GPU3 91 °C" in text
        assert app.chat.thermal_alert.region.y < app.chat.input.region.y  # above the prompt

        critical_toasts = [n for n in app._notifications if n.title == "thermal critical"]
        assert len(critical_toasts) == 1 and "GPU3 (NVIDIA GeForce GTX 1660 SUPER) at 91 °C" in critical_toasts[0].message

        gpus[5].temperature_c = 88  # a second card on the same, already critical node
        await wait_for(pilot, lambda: "GPU5 88 °C" in alert_text(app), 10, "second card in the alert")
        assert "GPU3 91 °C" in alert_text(app)
        await wait_for(pilot, lambda: len([n for n in app._notifications if n.title == "thermal critical"]) == 2,
                       5, "a notification for the second card")
        gpus[5].temperature_c = 60

        gpus[3].temperature_c = 84  # inside the hysteresis band (85 - 2): still critical
        await pilot.pause(0.5)
        assert app.chat.thermal_alert.display

        gpus[3].temperature_c = 70
        await wait_for(pilot, lambda: not app.chat.thermal_alert.display, 10, "alert cleared")
        assert app.thermal_alerts == {}
