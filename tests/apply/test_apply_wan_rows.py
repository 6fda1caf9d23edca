"""A multi-site plan's WAN rows (docs/multisite.md) have no table in any switch program yet: an apply refuses
them by the table's name before writing anything, the rest of the plan included."""

from __future__ import annotations

import pytest
from apply_helpers import Switch, bundle, fwd, live_forward, plan_of, switch_factory

from srchain.apply import AppliedStore, ApplyError, Controller, Drivers, Options
from srchain.plan import wan as W
from srchain.plan.model import Entry


def test_wan_encap_row_is_refused_by_name_and_nothing_is_written(tmp_path):
    sw = Switch()
    drivers = Drivers(switch_factory(sw, bundle("exact_forward", tmp_path / "out")))
    try:
        encap = Entry("switch", "s1", W.WAN_ENCAP, {"label": 16001}, "encap_mpls_in_udp",
                      {"port": 9, "dst_addr": "198.51.100.2"}, "wan_encap", 1)
        ctl = Controller(drivers, AppliedStore(tmp_path / "state"), Options(drain_timeout=1.0))
        with pytest.raises(ApplyError, match=rf"table {W.WAN_ENCAP}") as err:
            ctl.apply(plan_of([fwd(i, 1) for i in range(1, 5)] + [encap]))
        assert err.value.unchanged and str(err.value).endswith("nothing was changed")
        assert live_forward(sw.address) == {}
    finally:
        drivers.close()
        sw.stop()
