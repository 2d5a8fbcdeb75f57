"""The SRE workbook's multiwindow, multi-burn-rate scheme, shared by the IRT alerts and the contracts' alerts.

14.4x over 1h/5m and 6x over 6h/30m page; 3x over 1d/2h and 1x over 3d/6h open a ticket (warning). A
minimum number of decided outcomes in the long window keeps one breach at 3 a.m. from paging anyone.
"""

from __future__ import annotations

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (long window, short window, burn-rate factor, alert severity)
BURN_RATES = (("1h", "5m", 14.4, "page"), ("6h", "30m", 6.0, "page"),
              ("1d", "2h", 3.0, "warning"), ("3d", "6h", 1.0, "warning"))
MIN_VOLUME = 20  # decided outcomes in the long window before a burn rate may alert
