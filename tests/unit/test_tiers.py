import pytest

from hotline.tiers import DEFAULT_TIERS, TierBand, TierOverlap, check_no_overlap, tier_for


@pytest.mark.parametrize(
    ("dpd", "code"),
    [
        (0, None),
        (1, "early"),
        (29, "early"),
        (30, "mid"),
        (89, "late"),
        (90, "severe"),
        (180, "charge-off"),
        (2000, "charge-off"),
    ],
)
def test_each_day_count_falls_in_one_default_tier(dpd, code):
    tier = tier_for(dpd, DEFAULT_TIERS)
    assert (tier.code if tier else None) == code


def test_default_tiers_do_not_overlap():
    check_no_overlap(DEFAULT_TIERS)


def test_overlapping_tiers_are_refused():
    with pytest.raises(TierOverlap, match="'a' and 'b'"):
        check_no_overlap([TierBand("a", "A", 1, 30), TierBand("b", "B", 30, 60)])
