"""The rule of summed limits: -1 ("no limit") absorbs every other limit; no memberships hold nothing."""

import pytest

from nodeconductor.iaas.services.stats import summed_limit


@pytest.mark.parametrize("smallest,total,limit", [
    (None, None, 0),  # no membership: nothing can be created
    (0, 0, 0),
    (3, 10, 10),
    (-1, -1, -1),  # one unlimited membership
    (-1, 9, -1),  # an unlimited one beside limited ones: still unlimited, not 9 - 1
])  # fmt: skip
def test_a_sum_with_any_unlimited_member_is_unlimited(smallest, total, limit):
    assert summed_limit(smallest, total) == limit
